"""Foundation commands: ``synth``, ``ingest``, ``demo``."""

from __future__ import annotations

import typer

from reefdask.cli.app import app

__all__: list[str] = []


@app.command("synth")
def synth(
    outdir: str = typer.Argument(..., help="Folder to write imagery/<region>/ and labels/<region>/ into."),
    quads: int = typer.Option(4, "--quads", "-n", min=1, help="Number of quads, written as a compact block."),
    seed: int = typer.Option(0, "--seed", "-s", min=0, help="Random seed: same seed, same bytes."),
    size: int = typer.Option(512, "--size", help="Pixels per quad side (4096 = full level-15 resolution)."),
    region: str = typer.Option("belize", "--region", help="Region folder name, as the providers use."),
    origin: str | None = typer.Option(
        None,
        "--origin",
        help="North-west quad of the block, e.g. L15-0525E-1123N (default: near Lighthouse Reef).",
    ),
    kind: str = typer.Option("auto", "--kind", help="auto, no_reef (all deep water) or land (all land)."),
) -> None:
    """Write SYNTHETIC reef quads (RGB + alpha GeoTIFFs and label GeoTIFFs) on the real quad grid."""
    from reefdask.synthetic.quads import synth_quads

    made = synth_quads(outdir, quads=quads, seed=seed, size=size, region=region, origin=origin, kind=kind)
    for m in made:
        typer.echo(f"{m.quad.id}  {m.image}  {m.label}")
    typer.echo(f"wrote {len(made)} SYNTHETIC quads ({size} px, seed {seed}) under {outdir}: not real imagery")


@app.command("demo")
def demo(
    out: str = typer.Option("demo-output", "--out", help="Folder that receives everything the demo makes."),
    quads: int = typer.Option(16, "--quads", min=4, help="Synthetic quads (2 held out, 1 reef-free)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the synthetic scenes."),
    fast: bool = typer.Option(False, "--fast", help="Small scenes and short training (for CI)."),
    cluster: str = typer.Option("local", "--cluster", help="Cluster profile (local, slurm-cpu, slurm-gpu)."),
) -> None:
    """Run the whole pipeline on SYNTHETIC scenes, locally, and say where everything is."""
    from reefdask.demo.run import run_demo

    result = run_demo(out, quads=quads, seed=seed, fast=fast, cluster=cluster, echo=typer.echo)
    typer.echo(f"\ndone in {result.steps['total']['seconds']} s: everything is under {result.out}")
    st = result.steps
    typer.echo(f"  index:        {result.index}")
    typer.echo(f"  model report: {st['train']['report']}")
    for q, rep in st["calval"]["reports"].items():
        typer.echo(f"  calval {q}: {rep}")
    typer.echo(f"  progress map: {st['progress']['map']}")
    for fig in st["export"].get("figures", []):
        typer.echo(f"  reef map:     {fig}")
    typer.echo(f"  STAC catalog: {st['export']['stac']}")
    typer.echo(f"  dashboard (while it ran): {result.dashboard}")
    typer.echo(f"  summary:      {result.out / 'demo.json'}")
