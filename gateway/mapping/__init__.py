"""Mapping: declarative mapping files, compiled once, that fill the canonical model from a dialect."""

from .compiler import compile_file
from .debt import DialectDebt
from .engine import map_source
from .errors import ConversionError, MappingError, Problem, Refused
from .registry import Registry, default_dirs
from .result import Lineage, MapResult, Unmapped, Warning_
from .rules import Compiled

__all__ = [
    "Compiled", "ConversionError", "DialectDebt", "Lineage", "MapResult", "MappingError", "Problem", "Refused",
    "Registry",
    "Unmapped", "Warning_", "compile_file", "default_dirs", "map_source",
]
