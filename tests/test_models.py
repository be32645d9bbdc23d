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
