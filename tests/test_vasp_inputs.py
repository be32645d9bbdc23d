"""The VASP backend's input sets (the study's settings) and fake VASP's input checks."""

import json
import os
from contextlib import chdir as cd

import pytest
import yaml
from atomate2.vasp.files import write_vasp_input_set
from conftest import WORKFLOWS, fake_vasp_cmd
from conftest import mvflows_cli as _mvflows
from monty.serialization import dumpfn
from pymatgen.io.vasp import Incar, Kpoints

from mvflows.calculators import calculator_for
from mvflows.campaign import load_campaign
from mvflows.flows import CampaignMaker, pair_maker_for
from mvflows.structures import charged_spinel, metal_reference, tetrahedral_spinel
from mvflows.testing import FakeVaspInputError, FakeVaspSpec, check_inputs
from mvflows.testing.fake_vasp import ERROR_FILE, FAIL_ENV, FakeVaspErrorHandler
from mvflows.testing.fake_vasp_exe import main as fake_vasp_main
from mvflows.vasp.makers import JOB_MARKER, VaspCalculator, VaspRelaxStaticMaker
from mvflows.vasp.sets import kpoint_mesh
from mvflows.vasp.settings import VaspStudySettings, load_vasp_settings

SMOKE = os.path.join(WORKFLOWS, "smoke.yaml")


@pytest.fixture(scope="module")
def camp():
    return load_campaign(SMOKE, {"calculator.kind": "fake-vasp"})


@pytest.fixture(scope="module")
def spec(camp):
    return FakeVaspSpec.from_campaign(camp)


@pytest.fixture(scope="module")
def calc(camp):
    return calculator_for(camp.calculator)


def _write(directory, maker, structure, kind, relax_cell=True, spec=None):
    """What atomate2's maker writes before run_vasp (potcar_spec as in fake VASP); ``spec``: the
    campaign's expectations in the marker, as a fake calculator's jobs carry them."""
    directory.mkdir(parents=True, exist_ok=True)
    marker = {"kind": kind, "relax_cell": relax_cell, "fake_vasp": True}
    if spec is not None:
        marker["fake_spec"] = spec.to_dict()
    with cd(directory):
        write_vasp_input_set(structure, maker.input_set_generator, potcar_spec=True)
        dumpfn(marker, JOB_MARKER)
    return directory


def _fake_calculator(spec, **fake):
    """A fake calculator for the campaign of ``spec``, launching the tests' fake VASP command."""
    settings = spec.settings.model_copy(
        update={"fake": spec.settings.fake.model_copy(update={"vasp_cmd": fake_vasp_cmd(), **fake})}
    )
    return VaspCalculator(settings=settings, fake=True, fake_spec=spec)


def _write_neb(directory, neb_maker, images):
    gen = neb_maker.images_maker.input_set_generator
    gen.num_images = len(images) - 2
    _write(directory, neb_maker.images_maker, images[0], "neb", False)
    kpts = Kpoints.from_file(directory / "KPOINTS")
    for i, image in enumerate(images):
        (directory / f"{i:02d}").mkdir()
        image.to(filename=str(directory / f"{i:02d}" / "POSCAR"), fmt="poscar")
        kpts.write_file(directory / f"{i:02d}" / "KPOINTS")
    return directory


def _hop_images(n_moving):
    from mvflows.neb_path import hop_images, spinel_hop

    hop = spinel_hop(charged_spinel("Cr"), "Mg", "tet", (2, 2, 2))
    return hop_images(hop.start, hop.end, hop.via, n_moving, idpp=False)


def test_calculator_registry_and_labels(camp, calc):
    assert calc.label == "fake-vasp:PBE" and calc.fake
    real = calculator_for(load_campaign(SMOKE, {"calculator.kind": "vasp"}).calculator)
    assert real.label == "vasp:PBE" and not real.fake
    maker = pair_maker_for(camp)
    assert isinstance(maker.relax_maker, VaspRelaxStaticMaker)
    assert maker.calculator_label == "fake-vasp:PBE"


def test_config_file_is_the_study():
    s = load_vasp_settings(os.path.join(os.path.dirname(WORKFLOWS), "configs", "vasp.yaml"))
    assert s == VaspStudySettings(source=s.source)  # the file states the code's defaults
    assert s.encut == 520 and s.neb_ediff == 1e-4 and s.kpoints.unit_cell_mesh == 8
    packaged = load_vasp_settings()  # no file named: the copy inside the package
    assert packaged.model_dump() == s.model_dump() and packaged.source.replace(os.sep, "/").endswith(
        "mvflows/data/vasp.yaml"
    )


def test_kpoint_density_is_8x8x8_on_the_unit_cell():
    from pymatgen.core import Lattice

    s = VaspStudySettings()
    assert kpoint_mesh(Lattice.cubic(10.0), s) == (8, 8, 8)
    prim = charged_spinel("Cr")
    assert kpoint_mesh(prim.lattice, s) == (14, 14, 14)
    sc = prim.copy()
    sc.make_supercell([2, 2, 2])
    assert kpoint_mesh(sc.lattice, s) == (7, 7, 7)


def test_relax_and_neb_incar_for_mg_in_cr2s4(tmp_path, calc, spec):
    relax = calc.relax_maker().relax_maker
    d = _write(tmp_path / "relax", relax, tetrahedral_spinel("Mg", "Cr"), "relax")
    incar = Incar.from_file(d / "INCAR")
    assert incar["ENCUT"] == 520 and incar["ISPIN"] == 2 and incar["ISIF"] == 3 and incar["IBRION"] == 2
    assert incar["GGA"].upper() == "PE" and not incar.get("LDAU")
    assert incar["MAGMOM"] == [0.0] * 2 + [5.0] * 4 + [0.0] * 8  # Mg2 Cr4 S8, ferromagnetic Cr
    assert (d / "POTCAR.spec").read_text().split() == ["Mg_pv", "Cr_pv", "S"]
    assert Kpoints.from_file(d / "KPOINTS").kpts[0] == (14, 14, 14)
    check_inputs(d, spec)  # passes

    neb = calc.neb_maker(fmax=spec.neb_fmax, steps=spec.neb_steps, climb=True, optimizer=spec.optimizer)
    d = _write_neb(tmp_path / "neb", neb, _hop_images(spec.neb_images))
    incar = Incar.from_file(d / "INCAR")
    assert incar["IMAGES"] == spec.neb_images and incar["LCLIMB"] is True and incar["EDIFF"] == 1e-4
    assert incar["IBRION"] == 3 and incar["POTIM"] == 0 and incar["ISIF"] == 2 and incar["SPRING"] == -5
    assert Kpoints.from_file(d / "KPOINTS").kpts[0] == (7, 7, 7)
    check_inputs(d, spec)  # passes
    # for the report: the INCARs of Mg in Cr2S4
    print("RELAX INCAR\n" + str(Incar.from_file(tmp_path / "relax" / "INCAR")))
    print("NEB INCAR\n" + str(incar))


@pytest.mark.parametrize(
    "incar, key",
    [
        ({"ISPIN": 1}, "ISPIN"),
        ({"MAGMOM": {"Cr": -5.0}}, "MAGMOM"),  # not the ferromagnetic start
        ({"ENCUT": 400}, "ENCUT"),
        ({"LDAU": True, "LDAUU": {"Cr": 3.0}}, "LDAU"),
    ],
)
def test_wrong_incar_fails(tmp_path, spec, incar, key):
    bad = VaspCalculator(settings=spec.settings.model_copy(update={"incar": incar}), fake=True)
    d = _write(
        tmp_path,
        bad.relax_maker(relax_cell=False, fmax=spec.endpoint_fmax, steps=spec.endpoint_steps),
        metal_reference("Mg") if key != "MAGMOM" else charged_spinel("Cr"),
        "relax",
        False,
    )
    with pytest.raises(FakeVaspInputError, match=rf"INCAR {key}\b"):
        check_inputs(d, spec)


def test_wrong_kmesh_fails(tmp_path, calc, spec):
    relax = calc.relax_maker(relax_cell=False, fmax=spec.endpoint_fmax, steps=spec.endpoint_steps)
    relax.input_set_generator.user_kpoints_settings = Kpoints.gamma_automatic((4, 4, 4))
    d = _write(tmp_path, relax, charged_spinel("Cr"), "relax", False)
    with pytest.raises(FakeVaspInputError, match=r"KPOINTS .*\(4, 4, 4\).*expected Gamma \(14, 14, 14\)"):
        check_inputs(d, spec)


def test_wrong_relax_kind_fails(tmp_path, calc, spec):
    """A fixed-cell relax where the campaign demands a full relax: ISIF is named."""
    relax = calc.relax_maker(relax_cell=False, fmax=spec.relax_fmax, steps=spec.relax_steps)
    d = _write(tmp_path, relax, charged_spinel("Cr"), "relax", True)
    with pytest.raises(FakeVaspInputError, match=r"INCAR ISIF = 2, expected 3"):
        check_inputs(d, spec)


def test_wrong_image_count_fails(tmp_path, calc, spec):
    neb = calc.neb_maker(fmax=spec.neb_fmax, steps=spec.neb_steps, climb=True)
    d = _write_neb(tmp_path, neb, _hop_images(spec.neb_images + 2))
    with pytest.raises(FakeVaspInputError, match=r"INCAR IMAGES = 5, expected 3.*NEB image folders"):
        check_inputs(d, spec)


def test_wrong_image_count_fails_the_job(tmp_path, spec):
    """Through atomate2's NEB job, run_vasp, custodian and the executable: the job fails naming IMAGES."""
    from jobflow import run_locally

    neb = _fake_calculator(spec).neb_maker(fmax=spec.neb_fmax, steps=spec.neb_steps, climb=True)
    job = neb.images_maker.make(_hop_images(spec.neb_images - 1))
    with pytest.raises(FakeVaspInputError, match=r"INCAR IMAGES = 2, expected 3"):
        run_locally(job, create_folders=True, root_dir=tmp_path, raise_immediately=True, log=False)
    (job_dir,) = tmp_path.glob("job_*")
    assert (job_dir / "custodian.json").exists() and not (job_dir / "01" / "OUTCAR").exists()


def test_a_job_told_to_fail_fails_through_custodian(tmp_path, spec):
    """``fake.fail: [neb]``: the NEB crashes (no outputs), custodian fails it as it fails VASP's."""
    from custodian.custodian import ValidationError
    from jobflow import run_locally

    neb = _fake_calculator(spec, fail=["neb"]).neb_maker(
        fmax=spec.neb_fmax, steps=spec.neb_steps, climb=True, optimizer=spec.optimizer
    )
    assert neb.images_maker.run_vasp_kwargs["vasp_cmd"].endswith(" --fail neb")
    job = neb.images_maker.make(_hop_images(spec.neb_images))
    with pytest.raises(ValidationError, match="VaspNebFilesValidator"):
        run_locally(job, create_folders=True, root_dir=tmp_path, raise_immediately=True, log=False)
    (job_dir,) = tmp_path.glob("job_*")
    assert "crashes on purpose" in (job_dir / "vasp.out").read_text()


def test_wrong_image_count_fails_the_job_in_process(tmp_path, calc, spec):
    """fake_vasp(spec) runs the executable's code in this process, for makers without a fake_spec."""
    from jobflow import run_locally

    from mvflows.testing import fake_vasp

    neb = calc.neb_maker(fmax=spec.neb_fmax, steps=spec.neb_steps, climb=True)
    job = neb.images_maker.make(_hop_images(spec.neb_images - 1))
    with fake_vasp(spec), pytest.raises(FakeVaspInputError, match=r"INCAR IMAGES = 2, expected 3"):
        run_locally(job, create_folders=True, root_dir=tmp_path, raise_immediately=True, log=False)


def test_climb_off_is_caught(tmp_path, calc, spec):
    neb = calc.neb_maker(fmax=spec.neb_fmax, steps=spec.neb_steps, climb=False)
    d = _write_neb(tmp_path, neb, _hop_images(spec.neb_images))
    with pytest.raises(FakeVaspInputError, match=r"INCAR LCLIMB"):
        check_inputs(d, spec)


def test_run_vasp_without_vasp_fails_early(tmp_path):
    result = _mvflows("run", SMOKE, "--calculator", "vasp", "--store", str(tmp_path / "s"), "--no-progress")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "VASP" in errors[0] and "fake-vasp" in errors[0]
    assert not (tmp_path / "s" / "work").exists()


def test_unknown_calculator_kind_is_bad_input(tmp_path):
    result = _mvflows(
        "run", SMOKE, "--calculator", "gaussian", "--store", str(tmp_path / "s"), "--no-progress"
    )
    assert result.returncode == 2
    assert "error: --calculator gaussian: Input should be" in result.stderr


def test_fake_jobs_carry_the_campaigns_expectations(camp, spec):
    """Every fake VASP job's marker holds the spec computed from the campaign; real jobs' do not."""
    pm = pair_maker_for(camp)
    neb = pm.hops.neb
    makers = [pm.relax_maker.relax_maker, pm.relax_maker.static_maker, neb.endpoint_relax_maker]
    makers.append(neb.neb_maker.images_maker)
    for maker in makers:
        marker = maker.write_additional_data["mvflows_job:json"]
        assert marker["fake_vasp"] is True and marker["fake_spec"] == spec.to_dict()
        assert FakeVaspSpec.from_dict(marker["fake_spec"]).to_dict() == spec.to_dict()
        kwargs = maker.run_vasp_kwargs
        assert kwargs["vasp_cmd"] == kwargs["vasp_gamma_cmd"] == "mvflows-fake-vasp"
        assert isinstance(kwargs["handlers"][0], FakeVaspErrorHandler)
    assert neb.neb_maker.images_maker.run_vasp_kwargs["vasp_job_kwargs"] == {
        "output_file": "vasp.out",
        "stderr_file": "std_err.txt",
        "backup": False,  # custodian's NEB backup copies a POTCAR; fake jobs have POTCAR.spec
    }
    real = pair_maker_for(load_campaign(SMOKE, {"calculator.kind": "vasp"})).relax_maker.relax_maker
    assert "fake_spec" not in real.write_additional_data["mvflows_job:json"]
    assert "vasp_cmd" not in real.run_vasp_kwargs  # atomate2's VASP_CMD


def test_how_fake_vasp_is_launched_is_not_in_any_key(tmp_path):
    """fake.fail and fake.vasp_cmd change the command, not a job's key; fake and real keys differ."""

    def uuids(kind, fake=None):
        config = tmp_path / "vasp.yaml"  # one path: a campaign's settings name the file
        config.write_text(yaml.safe_dump({"fake": fake or {}}))
        camp = load_campaign(SMOKE, {"calculator.kind": kind, "calculator.vasp_config": str(config)})
        flow = CampaignMaker().make(camp)
        cmd = pair_maker_for(camp).hops.neb.neb_maker.images_maker.run_vasp_kwargs.get("vasp_cmd")
        return set(flow.job_uuids), cmd

    plain, cmd = uuids("fake-vasp")
    told, told_cmd = uuids("fake-vasp", {"fail": ["neb", "static"], "vasp_cmd": "srun mvflows-fake-vasp"})
    assert plain == told and told_cmd == "srun mvflows-fake-vasp --fail neb,static" != cmd
    real, _ = uuids("vasp")
    assert real.isdisjoint(plain)


def test_executable_refuses_wrong_inputs(tmp_path, spec, capsys):
    bad = VaspCalculator(settings=spec.settings.model_copy(update={"incar": {"ENCUT": 400}}), fake=True)
    maker = bad.relax_maker(relax_cell=False, fmax=spec.endpoint_fmax, steps=spec.endpoint_steps)
    d = _write(tmp_path, maker, metal_reference("Mg"), "relax", False, spec=spec)
    assert fake_vasp_main(["--dir", str(d)]) == 2
    report = json.loads((d / ERROR_FILE).read_text())
    assert report["error"] == "FakeVaspInputError"
    assert "INCAR ENCUT = 400.0, expected 520" in report["message"]
    assert not (d / "vasprun.xml").exists()
    assert "INCAR ENCUT" in capsys.readouterr().out  # vasp.out, under custodian
    # custodian's side: the handler raises the executable's reason in the job
    with pytest.raises(FakeVaspInputError, match="INCAR ENCUT"):
        FakeVaspErrorHandler().check(str(d))


def test_executable_crashes_a_kind_it_is_told_to_fail(tmp_path, calc, spec, capsys, monkeypatch):
    maker = calc.relax_maker(relax_cell=False, fmax=spec.endpoint_fmax, steps=spec.endpoint_steps)
    d = _write(tmp_path, maker, charged_spinel("Cr"), "relax", False, spec=spec)
    (d / "OUTCAR").write_text("an earlier attempt's")  # stale outputs must not pass for this run's
    assert fake_vasp_main(["--dir", str(d), "--fail", "relax,static"]) == 1
    assert "crashes on purpose" in capsys.readouterr().out
    assert not (d / "OUTCAR").exists() and not (d / ERROR_FILE).exists()  # a crash, left to custodian
    assert not FakeVaspErrorHandler().check(str(d))
    monkeypatch.setenv(FAIL_ENV, "relax")  # the same, chosen where the job runs
    assert fake_vasp_main(["--dir", str(d)]) == 1
    assert fake_vasp_main(["--dir", str(d), "--fail", "nonsense"]) == 2
    assert "unknown job kind(s) to fail: nonsense" in json.loads((d / ERROR_FILE).read_text())["message"]


def test_a_failure_can_be_cleared_under_queued_jobs(tmp_path, calc, spec, capsys, monkeypatch):
    """``fake.fail_while: FILE``: the kinds in ``fail`` crash while FILE exists; deleted, the same
    command (a queued job's, unchanged) runs them. The file is found from the settings file."""
    from mvflows.testing.fake_vasp import fail_kinds, run_vasp_kwargs

    monkeypatch.delenv(FAIL_ENV, raising=False)
    (tmp_path / "vasp.yaml").write_text(yaml.safe_dump({"fake": {"fail": ["neb"], "fail_while": "fail-neb"}}))
    fake = load_vasp_settings(tmp_path / "vasp.yaml").fake
    flag = tmp_path / "fail-neb"
    assert fake.fail_while == str(flag)  # absolute: where the job runs, not where it was read
    assert run_vasp_kwargs(fake)["vasp_cmd"] == f"mvflows-fake-vasp --fail neb --fail-while {flag}"
    flag.touch()
    assert fail_kinds("neb", flag) == {"neb"}
    maker = calc.relax_maker(relax_cell=False, fmax=spec.endpoint_fmax, steps=spec.endpoint_steps)
    d = _write(tmp_path / "job", maker, charged_spinel("Cr"), "relax", False, spec=spec)
    assert fake_vasp_main(["--dir", str(d), "--fail", "relax", "--fail-while", str(flag)]) == 1
    assert f"while {flag} exists (fake.fail_while): delete that file" in capsys.readouterr().out
    flag.unlink()
    assert fail_kinds("neb", flag) == set()
    monkeypatch.setenv(FAIL_ENV, "static")  # the environment's kinds do not depend on the file
    assert fail_kinds("neb", flag) == {"static"}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"fake": {"fail_while": "x"}}))
    with pytest.raises(ValueError, match=r"fake\.fail_while needs fake\.fail"):
        load_vasp_settings(tmp_path / "bad.yaml")
    # like fail, the file is not part of any job's key
    assert "fail_while" not in VaspStudySettings(fake=fake).model_dump()["fake"]


def test_executable_needs_the_campaigns_spec(tmp_path, calc, spec):
    maker = calc.relax_maker(relax_cell=False, fmax=spec.endpoint_fmax, steps=spec.endpoint_steps)
    d = _write(tmp_path, maker, charged_spinel("Cr"), "relax", False)  # a marker without fake_spec
    assert fake_vasp_main(["--dir", str(d)]) == 2
    assert "no fake_spec" in json.loads((d / ERROR_FILE).read_text())["message"]


def test_run_without_the_fake_vasp_command_fails_early(tmp_path):
    """`mvflows run` checks fake.vasp_cmd before it loads a model or computes anything."""
    config = tmp_path / "vasp.yaml"
    config.write_text(yaml.safe_dump({"fake": {"vasp_cmd": "no-such-fake-vasp --fail neb"}}))
    campaign = tmp_path / "c.yaml"
    campaign.write_text(
        "name: c\npairs: [{host: Cr2S4, intercalant: Mg}]\n"
        f"calculator: {{kind: fake-vasp, vasp_config: {config}}}\n"
    )
    out = _mvflows("run", str(campaign), "--store", str(tmp_path / "s"), "--no-progress")
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert out.returncode == 2 and len(errors) == 1, out.stderr
    assert "'no-such-fake-vasp --fail neb' not found" in errors[0]
    assert not (tmp_path / "s" / "work").exists()
