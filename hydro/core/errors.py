"""Error hierarchy. Only the CLI catches these; each carries the CLI exit code."""


class HydroError(Exception):
    """Base class of every error hydro raises on purpose."""

    exit_code = 1


class ConfigError(HydroError):
    """A configuration, option or parameter is wrong."""

    exit_code = 2


class UnknownMethodError(ConfigError):
    """A method name is not in the registry."""


class InputDataError(HydroError):
    """An input file or array is missing, malformed or physically impossible."""

    exit_code = 3


class NetworkError(InputDataError):
    """A river network failed validation; ``problems`` lists one line per problem."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: invalid river network: " + "; ".join(self.problems))


class NumericalError(HydroError):
    """A numerical method failed (no convergence, instability)."""

    exit_code = 4
