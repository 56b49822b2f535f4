"""Typed errors: each names what was wrong and where."""


class RillError(Exception):
    """Base class of every error rill raises on bad input."""


class ConfigError(RillError, ValueError):
    """A Config field is out of range."""


class UnsupportedError(RillError):
    """The model uses operations rill cannot compile (all of them are listed)."""


class ModelError(RillError, ValueError):
    """A model's parameters cannot be represented (NaN, inf, or beyond bf16's range)."""


class NNIRError(RillError):
    """The NNIR graph is malformed (a verifier found it between passes)."""


class AllocationError(RillError):
    """The program does not fit the accelerator: the message gives needed vs available."""


class SaveError(RillError):
    """A program or config file could not be written."""


class LoadError(RillError):
    """A program file is corrupt, truncated, or of another version."""


class ProgramError(RillError):
    """An instruction stream is illegal (bad opcode, bank, or a timing hazard)."""


class InvalidProgramError(LoadError, ProgramError):
    """A program's header contradicts its config or its own contents (field, expected, got)."""


class VMInputError(RillError, ValueError):
    """Input to VM.run has the wrong shape or dtype."""


class SolverUnavailableError(RillError):
    """The optimal scheduler needs OR-Tools, which is not installed."""
