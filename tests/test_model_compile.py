"""SevenNet compiled by torch.compile gives the eager model's energies and forces, or stays eager."""

import numpy as np
import pytest
from ase.build import bulk

from mvflows import model_compile


@pytest.fixture(scope="module")
def eager_sevennet():
    from mvflows.models import load_calculator

    return load_calculator("SevenNet", {"model": "7net-0"})  # conftest: MVFLOWS_TORCH_COMPILE=0


def _spinel_like() -> "bulk":
    # a rattled sulfide cell whose size differs from the probe's: the dynamic shapes must hold
    atoms = bulk("MgS", "rocksalt", a=5.2, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=3)
    return atoms


def _energy_forces(calc, atoms):
    a = atoms.copy()
    a.calc = calc
    return a.get_potential_energy(), a.get_forces()


def test_compiled_sevennet_matches_eager(eager_sevennet, monkeypatch):
    from mvflows.models import load_calculator

    monkeypatch.setenv(model_compile.ENV, "auto")
    compiled = load_calculator("SevenNet", {"model": "7net-0"})
    from sevenn.nn.convolution import IrrepsConvolution

    def compiled_convolutions():
        convs = [m for m in compiled.model.modules() if isinstance(m, IrrepsConvolution)]
        return bool(convs) and all("Optimized" in type(m.convolution).__name__ for m in convs)

    assert not compiled_convolutions()  # loading alone compiles nothing
    e0, f0 = _energy_forces(eager_sevennet, _spinel_like())
    e1, f1 = _energy_forces(compiled, _spinel_like())
    assert compiled_convolutions()  # the first call did
    assert "calculate" not in vars(compiled)  # and later calls go straight to the model
    assert abs(e1 - e0) < 1e-4
    assert np.abs(f1 - f0).max() < 1e-4


def test_failed_compile_leaves_the_model_eager(eager_sevennet, monkeypatch, caplog):
    import torch

    from mvflows.models import load_calculator

    class Broken(torch.nn.Module):  # what torch.compile returns where inductor cannot build
        def forward(self, *_args):
            raise RuntimeError("no C++ compiler here\nsecond line")

    def broken(module, **kwargs):
        return Broken()

    monkeypatch.setattr(torch, "compile", broken)
    calc = load_calculator("SevenNet", {"model": "7net-0"})
    assert model_compile.compile_sevennet(calc) is False
    assert "running it eager" in caplog.text and "no C++ compiler here" in caplog.text
    e0, f0 = _energy_forces(eager_sevennet, _spinel_like())
    e1, f1 = _energy_forces(calc, _spinel_like())
    assert e1 == pytest.approx(e0, abs=1e-6) and np.abs(f1 - f0).max() < 1e-6


@pytest.mark.parametrize(
    ("setting", "meta", "device", "expected"),
    [
        ("auto", "SevenNet", "cpu", True),
        ("auto", "SevenNet", "cuda", False),
        ("1", "SevenNet", "cuda", True),
        ("0", "SevenNet", "cpu", False),
        ("auto", "CHGNet", "cpu", False),
    ],
)
def test_which_models_compile(monkeypatch, setting, meta, device, expected):
    class Calc:
        pass

    calc = Calc()
    calc.device = device
    monkeypatch.setenv(model_compile.ENV, setting)
    assert model_compile.wanted(meta, calc) is expected


def test_nothing_loaded_in_eager_compiles(monkeypatch):
    class Calc:
        device = "cpu"

    monkeypatch.setenv(model_compile.ENV, "1")
    with model_compile.eager():
        assert model_compile.wanted("SevenNet", Calc()) is False
    assert model_compile.wanted("SevenNet", Calc()) is True
