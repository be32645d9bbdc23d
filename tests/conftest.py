import os
import warnings

import pytest

os.environ.setdefault("MVFLOWS_NO_PROGRESS", "1")
warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS = os.path.join(ROOT, "workflows")


@pytest.fixture
def campaign_file(tmp_path):
    """Write a campaign text to a file and return its path."""

    def write(text: str, name: str = "campaign.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
