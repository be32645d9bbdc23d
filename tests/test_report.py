"""The HTML report from synthetic documents (no browser): pages, links, escaping, downloads, CLI errors."""

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import mvflows_cli as _mvflows
from conftest import synthetic_docs
from jobflow import OutputReference
from pymatgen.core import Lattice, Structure

from mvflows.neb_path import ion_path_a
from mvflows.report import build_report
from mvflows.report.artifacts import load_artifacts
from mvflows.schemas import InsertionDocument, InsertionStep
from mvflows.store import job_store, publish_result, results_store


class _Page(HTMLParser):
    """Tags of interest in one page: table rows, links, images, scripts, stylesheets."""

    def __init__(self, text):
        super().__init__()
        self.rows, self.links, self.images, self.scripts, self.sheets, self.text = [], [], [], [], [], []
        self._in_body = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and "data-ion" in attrs:
            self.rows.append(attrs)
        elif tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "script":
            self.scripts.append(attrs)
        elif tag == "link":
            self.sheets.append(attrs)

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        self.text.append(data)


def _read(path):
    return _Page(Path(path).read_text(encoding="utf-8"))


def _assert_offline(page):
    """Nothing a page uses comes from elsewhere: relative links, inline script and style."""
    for url in page.links + page.images:
        assert not re.match(r"^[a-z]+:|^//", url) or url.startswith("#"), url
    assert all("src" not in s for s in page.scripts) and not page.sheets


def test_index_has_one_row_per_pair_with_state_filters_and_links(tmp_path):
    docs = synthetic_docs(35)
    docs[3]["failure_reasons"] = ["band <b>dips</b> below its endpoints"]
    index = build_report(docs, tmp_path / "r", source="synthetic")
    page = _read(index)
    assert len(page.rows) == 35
    pairs = [(d["intercalant"], d["host"]) for d in docs]
    assert [(r["data-ion"], r["data-host"]) for r in page.rows] == pairs
    assert [r["class"] for r in page.rows] == [f"state-{d['state']}" for d in docs]
    text = index.read_text(encoding="utf-8")
    assert "band &lt;b&gt;dips&lt;/b&gt; below its endpoints" in text and "<b>dips" not in text
    assert text.count('<option value="Mg">') == 1 and text.count('<option value="Cr2S4">') == 1
    assert 'id="results-table" class="sortable' in text and "sortBy" in text  # the script is inlined
    pair_links = [u for u in page.links if u.startswith("pairs/")]
    assert len(pair_links) == 35 and len(set(pair_links)) == 35
    for url in pair_links:
        pair = _read(tmp_path / "r" / url)
        assert "../index.html" in pair.links
        _assert_offline(pair)
        for src in pair.images:
            assert (tmp_path / "r" / url).parent.joinpath(src).is_file()
    _assert_offline(page)
    for src in page.images:
        assert (tmp_path / "r" / src).stat().st_size > 10_000
    kinds = ("neb", "voltage-capacity", "site-barrier", "hull")
    assert {Path(s).name for s in page.images} == {f"{k}.png" for k in kinds}


def test_sort_keys_are_the_unrounded_numbers(tmp_path):
    docs = synthetic_docs(3)
    text = build_report(docs, tmp_path / "r").read_text(encoding="utf-8")
    for d in docs:
        assert f'data-sort="{d["voltage_v"]!r}">{d["voltage_v"]:.3f}</td>' in text


def test_validation_table_sets_computed_beside_published(tmp_path):
    doc = {**synthetic_docs(1)[0], "host": "Cr2S4", "intercalant": "Mg", "voltage_v": 1.70}
    text = build_report([doc], tmp_path / "r").read_text(encoding="utf-8")
    section = text[text.index('id="validation"') :]
    row = re.search(r"<tr><td>Cr2S4</td><td>Mg</td><td>voltage_v</td>.*?</tr>", section).group(0)
    assert "1.65 V" in row and "1.700" in row and "+0.050" in row
    assert "published values with no computed counterpart" in section


def test_ion_path_counts_the_migrating_ion_along_a_bent_path_across_the_cell():
    lattice = Lattice.cubic(10.0)
    ion = [[0.95, 0.0, 0.0], [0.05, 0.0, 0.0], [0.05, 0.1, 0.0]]  # 1 Å across the boundary, then 1 Å sideways
    images = [Structure(lattice, ["Mg", "S"], [frac, [0.5, 0.5, 0.5]]) for frac in ion]
    assert ion_path_a(images) == pytest.approx([0.0, 1.0, 2.0])


def _relax_output(structure):
    return {
        "@module": "atomate2.forcefields.schemas",
        "@class": "ForceFieldTaskDocument",
        "structure": structure,
        "forcefield_name": "MLFF.X",
        "input": {"relax_cell": True, "steps": 200, "relax_kwargs": {"fmax": 0.1}},
    }


def _fill_job_store(js, doc, images):
    """Outputs as the runner stores them; structures and images go to the data store as blobs."""
    uuids = doc["job_uuids"]
    flow = "flow-of-the-pair"
    js.update(
        {
            "uuid": uuids["relax_tet"],
            "index": 1,
            "name": "relax MgCr2S4 tet",
            "hosts": [flow],
            "output": _relax_output(images[0]),
        },
        save={"data": ["structure"]},
    )
    js.update(
        {
            "uuid": uuids["neb"],
            "index": 1,
            "name": "neb",
            "hosts": ["sub", flow],
            "output": {"images": images, "energies": [-10.0, -9.4, -10.0], "tags": ["neb force converged"]},
        },
        save={"data": ["images"]},
    )
    js.update(
        {
            "uuid": "summary",
            "index": 1,
            "name": "NEB summary",
            "hosts": ["sub", flow],
            "output": {"neb_job_uuid": uuids["neb"], "hop": "tet-oct-tet", "hop_length_a": 2.0},
        }
    )
    js.update(
        {
            "uuid": uuids["pair_result"],
            "index": 1,
            "name": "result MgCr2S4",
            "hosts": [flow],
            "output": {"host": "Cr2S4"},
        }
    )
    # a job replaced by a sub-flow: its last output is a reference, resolved into objects
    step = InsertionStep(
        n_ions=1,
        x=0.5,
        energy_ev=-5.0,
        structure=images[2],
        candidates=[],
        chosen=0,
        ion_frac_coords=[0.0, 0.0, 0.0],
    )
    js.update(
        {
            "uuid": "u-last-step",
            "index": 1,
            "name": "insert Mg2",
            "hosts": ["sub", flow],
            "output": InsertionDocument(host="Cr2S4", intercalant="Mg", formula_units=1.0, steps=[step]),
        }
    )
    js.update({"uuid": uuids["insertion"], "index": 1, "name": "insert Mg1", "hosts": [flow], "output": None})
    js.update(
        {
            "uuid": uuids["insertion"],
            "index": 2,
            "name": "store_inputs",
            "hosts": ["sub", flow],
            "output": OutputReference("u-last-step"),
        }
    )


def test_pair_page_downloads_structures_and_neb_images_from_the_job_store(tmp_path):
    from ase.io import read

    lattice = Lattice.cubic(6.0)
    images = [
        Structure(lattice, ["Mg", "Cr", "S"], [[x, 0.0, 0.0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.75]])
        for x in (0.0, 1 / 6, 2 / 6)
    ]
    doc = {
        **synthetic_docs(1)[0],
        "host": "Cr2S4",
        "intercalant": "Mg",
        "neb_energies_ev": [0.0, 0.6, 0.0],
        "job_uuids": {
            "relax_tet": "u-tet",
            "relax_oct": "u-oct-missing",
            "neb": "u-neb",
            "insertion": "u-ins",
            "pair_result": "u-res",
        },
    }
    js = job_store("mongomock://report-test")
    _fill_job_store(js, doc, images)
    assert js.additional_stores["data"].count() == 2  # really blobs, resolved on reading

    art = load_artifacts(doc, [js])
    assert set(art.structures) == {"relax_tet", "insertion_1"} and art.structures["relax_tet"] == images[0]
    assert art.structures["insertion_1"] == images[2]
    assert [j.name for j in art.jobs if j.step == "insertion"] == ["insert Mg1"]  # not jobflow's store_inputs
    assert [b.path_a for b in art.bands] == [pytest.approx([0.0, 1.0, 2.0])]
    index = build_report([doc], tmp_path / "r", [js])
    pair_url = next(u for u in _read(index).links if u.startswith("pairs/"))
    page_path = tmp_path / "r" / pair_url
    page = _read(page_path)
    files = {Path(u).name: page_path.parent / u for u in page.links if not u.endswith((".html", ".png"))}
    assert set(files) == {"relax_tet.cif", "insertion_1.cif", "neb_images_tet-oct-tet.extxyz"}
    assert Structure.from_file(files["relax_tet.cif"]).matches(images[0])
    frames = read(files["neb_images_tet-oct-tet.extxyz"], index=":")
    assert [f.get_potential_energy() for f in frames] == [-10.0, -9.4, -10.0]
    assert np.allclose(frames[1].positions, images[1].cart_coords)
    text = page_path.read_text(encoding="utf-8")
    assert "u-oct-missing" in text and "not in the store read" in text  # a job the store lacks is listed
    assert "relax_kwargs.fmax=0.1" in text and "forcefield_name=MLFF.X" in text
    assert "distance along the path (Å)" not in text  # the figure is a PNG; its axis is tested in plotting
    assert any(u.endswith("neb.png") for u in page.images)


def _embedded_store(path, docs):
    store = results_store(str(path))
    for d in docs:
        publish_result(store, d)


def test_report_cli_writes_a_report_and_filters_by_campaign(tmp_path):
    docs = synthetic_docs(3)
    docs[0]["campaign"] = "other"
    _embedded_store(tmp_path / "store", docs)
    out = _mvflows(
        "report", "--store", str(tmp_path / "store"), "--campaign", "synthetic", "-o", str(tmp_path / "r")
    )
    assert out.returncode == 0, out.stderr
    assert "wrote" in out.stderr and "(2 pair results)" in out.stderr
    assert len(_read(tmp_path / "r" / "index.html").rows) == 2


@pytest.mark.parametrize(
    "case, code, message",
    [
        ("empty", 1, "no pair results in mongomock://empty"),
        ("campaign", 1, "no pair results of campaign nope in"),
        ("unreachable", 2, "cannot reach store 127.0.0.1:1/x"),
        ("unwritable", 2, "cannot write the report to"),
    ],
)
def test_report_cli_errors(tmp_path, case, code, message):
    named = {"empty": "mongomock://empty", "unreachable": "mongodb://127.0.0.1:1/x"}
    store = named.get(case, str(tmp_path / "s"))
    if case in ("campaign", "unwritable"):
        _embedded_store(tmp_path / "s", synthetic_docs(1))
    (tmp_path / "file").write_text("a file, not a folder")
    target = tmp_path / "file" / "report" if case == "unwritable" else tmp_path / "r"
    args = ["report", "--store", store, "-o", str(target)]
    args += ["--campaign", "nope"] if case == "campaign" else []
    out = _mvflows(*args)
    assert out.returncode == code, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], out.stderr
