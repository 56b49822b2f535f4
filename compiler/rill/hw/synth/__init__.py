"""The open synthesis flow (`rill synth`): resources, logic levels per stage, ECP5 Fmax."""

from .flow import BUDGET_LEVELS, ECP5_TARGET_MHZ, Result, SynthError, Unit, synth
from .units import config_unit, default_units, unit

__all__ = ["BUDGET_LEVELS", "ECP5_TARGET_MHZ", "Result", "SynthError", "Unit", "config_unit",
           "default_units", "synth", "unit"]
