"""The offline model catalogue: short names, one content key per model, every checkpoint loads."""

from __future__ import annotations

import pytest

from mvflows.models import MODEL_CATALOG, model_identity, model_label, resolve_model


def test_every_spelling_of_the_default_is_one_model():
    assert resolve_model("SevenNet") == ("SevenNet", {})
    assert resolve_model("7net-0") == ("SevenNet", {})
    assert resolve_model("sevennet", {"model": "7net-0"}) == ("SevenNet", {})
    assert resolve_model("chgnet-0.3.0") == ("CHGNet", {})
    assert model_label("SevenNet") == "SevenNet"


def test_short_names_bring_their_checkpoint_and_the_user_can_override():
    assert resolve_model("7net-l3i5") == ("SevenNet", {"model": "7net-l3i5"})
    assert resolve_model("7net-mf-0-r2scan") == ("SevenNet", {"model": "7net-mf-0", "modal": "R2SCAN"})
    assert resolve_model("7net-mf-0-pbe", {"modal": "R2SCAN"})[1]["modal"] == "R2SCAN"
    assert model_label("SevenNet", {"model": "7net-l3i5"}) == "7net-l3i5"
    assert model_label("CHGNet", {"model": "r2scan"}) == "chgnet-r2scan"
    assert model_label("SevenNet", {"model": "my.pth"}) == "SevenNet(model=my.pth)"


def test_the_identity_tells_checkpoints_and_heads_apart():
    ids = {name: model_identity(*resolve_model(name)) for name in MODEL_CATALOG}
    assert len({tuple(sorted(i.items())) for i in ids.values()}) == len(MODEL_CATALOG)
    assert ids["7net-mf-0-pbe"]["head"] == "PBE" and "head" not in ids["7net-0"]
    assert ids["chgnet-0.2.0"]["checkpoint"] == "0.2.0"


def test_a_campaign_may_name_a_short_model(tmp_path):
    from mvflows.campaign import load_campaign

    path = tmp_path / "c.yaml"
    path.write_text("name: c\npairs: [{host: Cr2S4, intercalant: Mg}]\ncalculator: {model: 7net-l3i5}\n")
    camp = load_campaign(path)
    assert (camp.calculator.model, camp.calculator.model_kwargs) == ("SevenNet", {"model": "7net-l3i5"})
    long = tmp_path / "d.yaml"
    long.write_text(
        "name: c\npairs: [{host: Cr2S4, intercalant: Mg}]\n"
        "calculator: {model: SevenNet, model_kwargs: {model: 7net-l3i5}}\n"
    )
    assert load_campaign(long).settings_digest() == camp.settings_digest()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODEL_CATALOG))
def test_every_catalogued_checkpoint_loads_offline_and_differs(name):
    """Each name loads its own weights (CHGNet's checkpoints need atomate2_fixes item 9)."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    from mvflows.models import cached_calculator, default_kwargs

    mlff, kwargs = resolve_model(name)
    atoms = AseAtomsAdaptor.get_atoms(
        Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])
    )
    atoms.calc = cached_calculator(mlff, **{**default_kwargs(mlff), **kwargs})
    energy = atoms.get_potential_energy()
    default = MODEL_CATALOG["7net-0" if mlff == "SevenNet" else "chgnet-0.3.0"]
    if name != default.name:
        ref = atoms.copy()
        ref.calc = cached_calculator(mlff, **{**default_kwargs(mlff), **default.calculator_kwargs()})
        assert abs(energy - ref.get_potential_energy()) > 1e-3  # another checkpoint, other energies


def test_the_device_reaches_the_calculator_but_not_the_keys(tmp_path):
    """calculator.device puts the model on a GPU (or the CPU) without making its jobs new ones."""
    from mvflows.campaign import load_campaign
    from mvflows.flows import CampaignMaker

    text = "name: c\npairs: [{host: Cr2S4, intercalant: Mg}]\ncalculator: {model: %s, device: %s}\n"
    flows = {}
    for model, device in [
        ("7net-0", "auto"),
        ("7net-0", "cuda"),
        ("chgnet-0.3.0", "auto"),
        ("chgnet-0.3.0", "cpu"),
    ]:
        path = tmp_path / f"{model}-{device}.yaml"
        path.write_text(text % (model, device))
        camp = load_campaign(path)
        flows[model, device] = (camp.settings_digest(), CampaignMaker().make(camp))
    uuids = {k: sorted(j.uuid for j, _ in f.iterflow()) for k, (_, f) in flows.items()}
    assert uuids["7net-0", "auto"] == uuids["7net-0", "cuda"]
    assert uuids["chgnet-0.3.0", "auto"] == uuids["chgnet-0.3.0", "cpu"]
    assert uuids["7net-0", "auto"] != uuids["chgnet-0.3.0", "auto"]
    assert flows["7net-0", "auto"][0] == flows["7net-0", "cuda"][0]
    makers = [
        j.function.__self__
        for j, _ in flows["7net-0", "cuda"][1].iterflow()
        if hasattr(getattr(j.function, "__self__", None), "calculator_kwargs")
    ]
    assert makers and all(m.calculator_kwargs.get("device") == "cuda" for m in makers)
    cpu = [
        j.function.__self__
        for j, _ in flows["chgnet-0.3.0", "cpu"][1].iterflow()
        if hasattr(getattr(j.function, "__self__", None), "calculator_kwargs")
    ]
    assert cpu and all(m.calculator_kwargs.get("use_device") == "cpu" for m in cpu)


def test_fake_vasp_surrogate_takes_a_short_name(monkeypatch):
    """fake: {model: 7net-l3i5} runs that checkpoint, not the package's default one."""
    import importlib

    from mvflows import models

    fake_vasp = importlib.import_module("mvflows.testing.fake_vasp")
    seen = {}
    monkeypatch.setattr(models, "cached_calculator", lambda name, **kw: seen.update(name=name, **kw))
    fake_vasp._calculator(fake_vasp.FakeVaspSpec(model="7net-l3i5"))
    assert seen == {"name": "SevenNet", "model": "7net-l3i5"}
