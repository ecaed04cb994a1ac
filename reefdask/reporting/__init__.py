"""Reports: HTML views and figures drawn on their own Agg canvas."""
