"""Test helpers users can run on their own campaigns: fake VASP and its pytest fixture."""

from mvflows.testing.fake_vasp import FakeVaspInputError, FakeVaspSpec, check_inputs, fake_vasp

__all__ = ["FakeVaspInputError", "FakeVaspSpec", "check_inputs", "fake_vasp"]
