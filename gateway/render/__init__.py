"""Render: canonical model -> StUF profiles (``zkn`` zakLk01, ``ggk`` Di01) and StUF replies."""

from .settings import RenderSettings, Systeem
from .zkn import Rendered, RenderError

__all__ = ["RenderError", "RenderSettings", "Rendered", "Systeem"]
