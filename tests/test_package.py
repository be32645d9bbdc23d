"""The package itself: no import cycle, data shipped inside, a wheel that runs outside the checkout."""

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import networkx as nx
import pytest
import yaml
from conftest import ROOT

PACKAGE = Path(ROOT) / "mvflows"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """mvflows modules a file imports anywhere (functions too: a lazy import is still a dependency)."""
    found = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            # `from mvflows.jobs import sites` imports the submodule, `from mvflows.x import name` module x
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found |= {n for n in names if n in modules}
    return found


def import_graph() -> nx.DiGraph:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    for name, path in files.items():
        graph.add_node(name)
        for target in _imports(path, set(files)):
            if target != name:
                graph.add_edge(name, target)
    return graph


def test_no_import_cycle():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join([*c, c[0]]) for c in cycles)


def test_the_cycle_check_sees_cycles(tmp_path, monkeypatch):
    """The walker itself: two modules that import each other (one lazily, in a function) are a cycle."""
    pkg = tmp_path / "mvflows"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from mvflows.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from mvflows import a\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert [sorted(c) for c in nx.simple_cycles(import_graph())] == [["mvflows.a", "mvflows.b"]]


def test_layers_point_downwards():
    """structures/science <- jobs/makers <- execution <- CLI: nothing below imports the CLI or the runner."""
    graph = import_graph()
    for name in graph:
        deps = nx.descendants(graph, name)
        if not name.startswith("mvflows.cli"):
            assert not any(d.startswith("mvflows.cli") for d in deps), name
        if name.startswith(("mvflows.jobs", "mvflows.structures", "mvflows.calculators", "mvflows.flows")):
            assert not any(d.startswith("mvflows.execution") for d in deps), name


@pytest.mark.parametrize("name", ["vasp.yaml", "jobflow-remote.yaml"])
def test_configs_are_copies_of_the_packaged_defaults(name):
    """configs/ holds documented copies for users; the code reads the packaged file."""
    shipped = yaml.safe_load((PACKAGE / "data" / name).read_text())
    copy = yaml.safe_load((Path(ROOT) / "configs" / name).read_text())
    assert shipped == copy


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            ROOT,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (path,) = out.glob("mvflows-*.whl")
    return path


def test_wheel_holds_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "hosts.yaml",
        "competing_phases.yaml",
        "reference_values.yaml",
        "vasp.yaml",
        "jobflow-remote.yaml",
    ):
        assert f"mvflows/data/{data}" in names, data
    assert "mvflows/cli/__init__.py" in names and "mvflows/execution/scheduler.py" in names
    assert not any(n.startswith(("tests/", "configs/", "workflows/", "benchmarks/")) for n in names)
    # the console scripts, fake VASP's among them (the VASP command of fake-vasp jobs)
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "mvflows-fake-vasp = mvflows.testing.fake_vasp_exe:main" in scripts


def test_the_installed_wheel_runs_outside_the_checkout(wheel, tmp_path):
    """Unpacked wheel first on the path, run from a directory that is not the checkout."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "MVFLOWS_NO_PROGRESS": "1",
        "PYTHONWARNINGS": "ignore",
        "JFREMOTE_PROJECTS_FOLDER": str(tmp_path / "jf"),
    }
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = (
        "import mvflows; print(mvflows.__file__)\n"
        "from mvflows.vasp.settings import load_vasp_settings; print(load_vasp_settings().source)\n"
        "from mvflows.cli import main; main()\n"
    )
    init = subprocess.run(
        [sys.executable, "-c", code, "cluster", "init", "w", "--mongo", "mongodb://h:1/db"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=300,
    )
    assert init.returncode == 0, init.stderr[-2000:]
    lines = init.stdout.splitlines()
    assert lines[0].startswith(str(site)) and lines[1].startswith(str(site))  # the wheel's code and data
    project = yaml.safe_load((tmp_path / "jf" / "w.yaml").read_text())
    assert project["queue"]["store"]["database"] == "db"
    campaign = work / "c.yaml"
    campaign.write_text("name: w\npairs: [{host: Cr2S4, intercalant: Mg}]\ncalculator: {model: NoSuchNet}\n")
    bad = subprocess.run(
        [sys.executable, "-c", code, "run", str(campaign)],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=300,
    )
    assert bad.returncode == 2 and "unknown force field 'NoSuchNet'" in bad.stderr
