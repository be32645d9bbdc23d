"""Bad input: one ``error:`` line naming the place (file:line:col and list index, or the option),
exit code 2, no traceback, and nothing written: the store directory is never created.

None of these cases computes anything; most run in this process (typer's CliRunner), a few
as a real ``mvflows`` process.
"""

import os

import pytest
from conftest import error_lines, invoke, mvflows_cli

from mvflows.campaign import MAX_CAMPAIGN_BYTES, load_campaign

GOOD = "name: x\npairs:\n  - {host: Cr2S4, intercalant: Mg}\n"  # pairs[0] is on line 3
HOST = "name: x\nfamily: host\npairs:\n  - {host: VS4, intercalant: Mg}\n"

# id, campaign text (str, or bytes as written), extra arguments of `mvflows run`, expected in the error line
RUN_CASES = [
    ("not-utf8", GOOD.encode() + b"# caf\xe9\n", [], "c.yaml:4:6: not UTF-8 text (byte 0xe9)"),
    ("control-char", GOOD + "neb: {images: 3}\x07\n", [], "c.yaml:4:17: malformed YAML: control character"),
    ("nesting", GOOD + "neb: " + "[" * 5000 + "]" * 5000 + "\n", [], "c.yaml:4:37: nested deeper than 32"),
    (
        "alias-bomb",
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" + GOOD,
        [],
        "c.yaml:2:8: YAML aliases (*name) are not allowed",
    ),
    ("too-large", GOOD + "#" * MAX_CAMPAIGN_BYTES + "\n", [], "c.yaml: campaign file larger than 256 kB"),
    (
        "duplicate-key",
        GOOD + "neb:\n  images: 3\n  fmax: 0.1\n  images: 5\n",
        [],
        "c.yaml:7:3: duplicate key",
    ),
    (
        "duplicate-key-pair",
        "name: x\npairs:\n  - {host: Cr2S4, intercalant: Mg, intercalant: Zn}\n",
        [],
        "c.yaml:3:36: duplicate key 'intercalant' (first at line 3)",
    ),
    (
        "null-calculator-with-model",
        GOOD + "calculator:\n",
        ["--model", "NoSuchNet"],
        "--model NoSuchNet: unknown force field 'NoSuchNet'",
    ),
    (
        "supercell-zero",
        GOOD + "neb: {supercell: [0, 2, 2]}\n",
        [],
        "c.yaml:4:19: neb.supercell[0]: Input should",
    ),
    ("supercell-negative", GOOD + "neb: {supercell: [2, -1, 2]}\n", [], "c.yaml:4:22: neb.supercell[1]"),
    ("supercell-huge", GOOD + "neb: {supercell: [50, 50, 50]}\n", [], "less than or equal to 8"),
    ("supercell-atoms", GOOD + "neb: {supercell: [5, 5, 5]}\n", [], "to 1750 atoms; at most 1000"),
    ("images", GOOD + "neb: {images: 100000}\n", [], "c.yaml:4:15: neb.images: Input should be less than or"),
    ("images-zero", GOOD + "neb: {images: 0}\n", [], "c.yaml:4:15: neb.images: Input should be greater than"),
    ("fmax-inf", GOOD + "neb: {fmax: .inf}\n", [], "c.yaml:4:13: neb.fmax: Input should be a finite number"),
    ("fmax-nan", GOOD + "neb: {fmax: .nan}\n", [], "neb.fmax: Input should be a finite number"),
    (
        "fmax-zero",
        GOOD + "calculator: {relax: {fmax: 0}}\n",
        [],
        "calculator.relax.fmax: Input should be greater",
    ),
    (
        "fmax-negative",
        GOOD + "neb: {endpoint_fmax: -0.1}\n",
        [],
        "neb.endpoint_fmax: Input should be greater",
    ),
    (
        "intermediate-tolerance-zero",
        GOOD + "neb: {intermediate_tolerance_ev: 0}\n",
        [],
        "c.yaml:4:34: neb.intermediate_tolerance_ev: Input should be greater than 0",
    ),
    (
        "maximum-window",  # more than 25 % would pass a maximum at the intermediate site or an end
        GOOD + "neb: {maximum_window: 0.5}\n",
        [],
        "c.yaml:4:23: neb.maximum_window: Input should be less than or equal to 0.25",
    ),
    ("relax-intermediate", GOOD + "neb: {relax_intermediate: maybe}\n", [], "neb.relax_intermediate: Input"),
    (
        "steps",
        GOOD + "neb: {steps: 10000000}\n",
        [],
        "neb.steps: Input should be less than or equal to 10000",
    ),
    ("x-max-inf", HOST + "x_max: .inf\n", [], "c.yaml:5:8: x_max: Input should be a finite number"),
    (
        "model-kwargs",
        GOOD + "calculator: {model: SevenNet, model_kwargs: {devise: cpu}}\n",
        [],
        "c.yaml:4:46: calculator.model_kwargs.devise: SevenNet's calculator takes no keyword 'devise'",
    ),
    (
        "x-max-on-spinel-pair",
        "name: x\npairs:\n  - {host: Cr2S4, intercalant: Mg, x_max: 0.5}\n",
        [],
        "c.yaml:3:43: pairs[0].x_max: spinel pairs are always x = 1",
    ),
    ("x-max-on-spinel-campaign", GOOD + "x_max: 2\n", [], "c.yaml:4:8: x_max: spinel pairs are always x = 1"),
    (
        "conflicting-pair",
        HOST + "  - {host: S4V, intercalant: Mg, x_max: 0.5}\n",
        [],
        "c.yaml:5:41: pairs[1].x_max: Mg in VS4 is already a pair at pairs[0] with x_max = 1, here 0.5",
    ),
    (
        "pair-entry-location",
        GOOD + "  - {host: Ti2S4, intercalant: Zn}\n  - {host: Cr2S4, intercalant: Li}\n"
        "  - {host: Cr2Cl4, intercalant: Mg}\n",
        [],
        "c.yaml:6:12: pairs[3].host: host 'Cr2Cl4' is not a B2X4 spinel",
    ),
    (
        "pair-intercalant",
        GOOD + "  - {host: Ti2S4, intercalant: K}\n",
        [],
        "c.yaml:4:32: pairs[1].intercalant",
    ),
    (
        "matrix-host",
        "name: x\nhosts: [Cr2S4, Zn2S4]\nintercalants: [Mg]\n",
        [],
        "c.yaml:2:16: hosts[1]: MgZn2S4",
    ),
    (
        "intercalant-index",
        "name: x\nhosts: [Cr2S4]\nintercalants: [Mg, Xx]\n",
        [],
        "c.yaml:3:20: intercalants[1]",
    ),
    (
        "hull-needs-stability",
        GOOD + "screen: {max_e_hull_ev_atom: 0.1}\n",
        [],
        "c.yaml:4:30: screen.max_e_hull",
    ),
    ("model-option", GOOD, ["--model", "NoSuchNet"], "--model NoSuchNet: unknown force field"),
    ("model-not-offline", GOOD, ["--model", "MACE"], "--model MACE: force field 'MACE' cannot be loaded"),
    (
        "calculator-option",
        GOOD,
        ["--calculator", "bogus"],
        "--calculator bogus: Input should be 'forcefield'",
    ),
    ("vasp-not-configured", GOOD, ["--calculator", "vasp"], "--calculator vasp: no VASP on this machine"),
    (
        "work-dir-under-file",
        GOOD,
        ["--work-dir", "{tmp}/afile/work"],
        "--work-dir {tmp}/afile/work: {tmp}/afile is",
    ),
    (
        "work-dir-is-file",
        GOOD,
        ["--work-dir", "{tmp}/afile"],
        "--work-dir {tmp}/afile: {tmp}/afile is not a dir",
    ),
]


def _one_error(stderr: str, expected: str) -> None:
    errors = error_lines(stderr)
    assert len(errors) == 1, stderr
    assert expected in errors[0], errors[0]
    assert "Traceback" not in stderr, stderr


@pytest.mark.parametrize("text, args, expected", [c[1:] for c in RUN_CASES], ids=[c[0] for c in RUN_CASES])
def test_run_refuses_bad_input(tmp_path, text, args, expected):
    campaign = tmp_path / "c.yaml"
    campaign.write_bytes(text if isinstance(text, bytes) else text.encode())
    (tmp_path / "afile").write_text("a regular file")
    store = tmp_path / "store"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = invoke("run", campaign, "--store", store, *args)
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    _one_error(result.stderr, expected.replace("{tmp}", str(tmp_path)))
    assert not store.exists()


# the same checks in a real process: a traceback there would be a crash, not a caught exception
SUBPROCESS_CASES = ["not-utf8", "nesting", "pair-entry-location"]


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_run_refuses_bad_input_as_a_process(tmp_path, case):
    _id, text, args, expected = next(c for c in RUN_CASES if c[0] == case)
    campaign = tmp_path / "c.yaml"
    campaign.write_bytes(text if isinstance(text, bytes) else text.encode())
    store = tmp_path / "store"
    result = mvflows_cli("run", str(campaign), "--store", str(store), *args, timeout=120)
    assert result.returncode == 2, result.stderr
    _one_error(result.stderr, expected)
    assert not store.exists()


@pytest.mark.parametrize(
    "store, expected", [("", "--store: empty"), ("monty:", "--store 'monty:': no directory")]
)
def test_empty_store_is_refused(tmp_path, monkeypatch, store, expected):
    """Not the default store, nor the current directory: nothing appears where the command runs."""
    (tmp_path / "c.yaml").write_text(GOOD)
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    result = invoke("run", tmp_path / "c.yaml", "--store", store)
    assert result.exit_code == 2, result.stderr
    _one_error(result.stderr, expected)
    assert list(here.iterdir()) == []


def test_status_without_a_project(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JFREMOTE_PROJECT"}
    env["JFREMOTE_PROJECTS_FOLDER"] = str(tmp_path)
    result = mvflows_cli("status", env={**env, "JFREMOTE_PROJECT": ""}, timeout=120)
    assert result.returncode == 2, result.stderr
    _one_error(result.stderr, "no jobflow-remote project given: use --project NAME or set $JFREMOTE_PROJECT")
    assert "None" not in result.stderr


def test_status_with_the_queue_database_down(tmp_path):
    """A project whose MongoDB is not running: one line naming the project, not a traceback."""
    env = {**os.environ, "JFREMOTE_PROJECTS_FOLDER": str(tmp_path)}
    mongo = "mongodb://127.0.0.1:9/mv?serverSelectionTimeoutMS=500&connectTimeoutMS=500"
    init = mvflows_cli("cluster", "init", "down", "--mongo", mongo, env=env, timeout=120)
    assert init.returncode == 0, init.stderr
    for args in (("status", "--project", "down"), ("rerun", "MgCr2S4", "--project", "down")):
        result = mvflows_cli(*args, env=env, timeout=120)
        assert result.returncode == 2, result.stderr
        _one_error(result.stderr, "")
        assert "project 'down'" in result.stderr or "project down" in result.stderr, result.stderr


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", ""])
def test_cluster_init_refuses_names_that_leave_the_folder(tmp_path, name):
    folder = tmp_path / "projects"
    result = invoke("cluster", "init", name, "--folder", folder)
    assert result.exit_code == 2, result.stderr
    _one_error(result.stderr, f"project name {name!r}: letters, digits")
    assert list(tmp_path.iterdir()) == []


# --- what the campaign checker accepts and how it writes it ----------------------------


def test_formulas_are_written_one_way(campaign_file):
    camp = load_campaign(campaign_file(GOOD + "  - {host: S4Cr2, intercalant: Mg}\n"))
    assert [(p.host, p.intercalant) for p in camp.pair_list()] == [("Cr2S4", "Mg")]
    camp = load_campaign(campaign_file("name: x\nfamily: host\nhosts: [S4V, O5V2]\nintercalants: [Mg]\n"))
    assert [p.host for p in camp.pair_list()] == ["VS4", "V2O5"]


def test_identical_duplicates_are_merged(campaign_file):
    text = HOST + "  - {host: S4V, intercalant: Mg, x_max: 1}\nhosts: [VS4]\nintercalants: [Mg]\n"
    camp = load_campaign(campaign_file(text))
    assert [(p.host, p.intercalant, camp.x_of(p)) for p in camp.pair_list()] == [("VS4", "Mg", 1.0)]


def test_empty_section_takes_the_override(campaign_file):
    camp = load_campaign(campaign_file(GOOD + "calculator:\n"), {"calculator.model": "chgnet"})
    assert camp.calculator.model == "CHGNet"


def test_bounds_accept_their_limits(campaign_file):
    camp = load_campaign(
        campaign_file(GOOD + "neb: {images: 31, supercell: [4, 4, 4], steps: 10000, fmax: 1.0e-3}\n")
    )
    assert camp.neb.images == 31 and camp.neb.supercell == (4, 4, 4)


def test_where_settings_came_from(campaign_file):
    path = campaign_file(GOOD + "calculator:\n  model: CHGNet\n")
    camp = load_campaign(path, {"calculator.kind": "forcefield"}, {"calculator.kind": "--calculator"})
    assert camp.where("calculator.model") == f"{path}:5:10: calculator.model"
    assert camp.where("calculator.kind") == "--calculator forcefield"
    assert camp.where("calculator.vasp_config") is None


def test_model_keywords_are_read_without_loading_the_model():
    from mvflows.models import calculator_keywords

    assert {"model", "device", "modal"} <= calculator_keywords("SevenNet")
    assert "stress_unit" in calculator_keywords("CHGNet")  # atomate2's default keyword
    assert calculator_keywords("MACE") is None  # not known here: loading it tells
