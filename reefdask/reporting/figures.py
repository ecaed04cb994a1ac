"""Matplotlib figures drawn on their own Agg canvas: no pyplot state, no backend switch.

Library code never calls ``matplotlib.use`` or pyplot, so drawing a report inside a
notebook leaves the notebook's inline plotting alone.
"""

from __future__ import annotations

from typing import Any

__all__ = ["agg_figure", "subplots"]


def agg_figure(width: float, height: float, dpi: int = 100) -> Any:
    """A :class:`matplotlib.figure.Figure` on an Agg canvas (``fig.savefig`` writes PNGs).

    >>> fig = agg_figure(2, 1)
    >>> ax = fig.add_subplot()
    >>> type(fig.canvas).__name__
    'FigureCanvasAgg'
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def subplots(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs: Any
) -> tuple[Any, Any]:
    """``(figure, axes)`` like ``pyplot.subplots``, on an Agg canvas of its own.

    >>> fig, axes = subplots(1, 2, figsize=(4, 2))
    >>> len(axes)
    2
    """
    fig = agg_figure(*figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)
