"""Campaign files: the shipped ones load; bad ones fail with a line-precise message."""

import os

import pytest
from conftest import WORKFLOWS

from mvflows.campaign import CampaignError, load_campaign


def test_spinel21_has_21_pairs():
    camp = load_campaign(os.path.join(WORKFLOWS, "spinel21.yaml"))
    pairs = {(p.host, p.intercalant) for p in camp.pair_list()}
    assert len(pairs) == 21
    assert ("Cr2S4", "Mg") in pairs and ("Ni2S4", "Zn") in pairs
    assert camp.calculator.model == "SevenNet"
    assert camp.screen.max_abs_delta_e_site_ev == 1.0
    assert camp.neb.images == 7 and camp.neb.climb and camp.neb.idpp


def test_smoke_pairs():
    camp = load_campaign(os.path.join(WORKFLOWS, "smoke.yaml"))
    assert [(p.intercalant, p.host) for p in camp.pair_list()] == [("Mg", "Cr2S4"), ("Zn", "Ti2S4")]


def test_model_override_and_spelling():
    camp = load_campaign(os.path.join(WORKFLOWS, "smoke.yaml"), {"calculator.model": "chgnet"})
    assert camp.calculator.model == "CHGNet"


BAD = [
    ("name: x\nhosts: [Cr2S4]\nintercalants: [Mg, Xx]\n", "3:", "unknown element 'Xx'"),
    ("name: x\nhosts: [Cr2Cl4]\nintercalants: [Mg]\n", "2:", "not a B2X4 spinel framework with X in O, S"),
    ("name: x\nhosts: [He2S4]\nintercalants: [Mg]\n", "2:", "'He' is not a metal"),
    ("name: x\nhosts: [Cr2S4]\nintercalants: [K]\n", "3:", "'K' is not a supported intercalant"),
    ("name: x\nhosts: [Cr2S4\nintercalants: [Mg]\n", "", "malformed YAML"),
    ("name: x\nhosts: [Cr2S4]\nintercalants: [Mg]\nnebb: {}\n", "4:1", "nebb: unknown key"),
    (
        "name: x\nhosts: [Cr2S4]\nintercalants: [Mg]\ncalculator:\n  model: NoSuchNet\n",
        "5:10",
        "unknown force field",
    ),
    ("name: x\nhosts: [Cr2S4]\nintercalants: [Mg]\nneb:\n  images: 0\n", "5:11", "neb.images"),
    ("name: x\n", "1:1", "the campaign has no pairs"),
    ("- just\n- a list\n", "1:1", "must be a mapping"),
]


@pytest.mark.parametrize("text, where, message", BAD)
def test_bad_campaigns(campaign_file, text, where, message):
    path = campaign_file(text)
    with pytest.raises(CampaignError) as info:
        load_campaign(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:{where}"), msg
    assert message in msg
    assert "\n" not in msg


def test_missing_file(tmp_path):
    with pytest.raises(CampaignError, match="cannot read campaign file"):
        load_campaign(tmp_path / "nope.yaml")
