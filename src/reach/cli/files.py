"""``reach import`` and ``reach export``: clients of a running server, as the partner."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from reach.cli.common import (
    _echo_json,
    main,
)

# -- import / export: clients of a running server, authenticated as the partner

url_option = click.option(
    "--url",
    envvar="REACH_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The server (env REACH_URL).",
)
partner_id_option = click.option(
    "--partner-id", envvar="REACH_PARTNER_ID", default=None, help="env REACH_PARTNER_ID."
)
secret_option = click.option(
    "--secret", envvar="REACH_PARTNER_SECRET", default=None, help="env REACH_PARTNER_SECRET."
)
tenant_option = click.option(
    "--tenant", required=True, help="The tenant's external id (or id) the records belong to."
)
progress_option = click.option(
    "--progress-interval",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="Seconds between progress lines when stderr is not a terminal.",
)


@main.command(name="import")
@click.argument("schema")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@tenant_option
@url_option
@partner_id_option
@secret_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None)
@click.option("--resume", is_flag=True, help="Carry on after the last acknowledged chunk.")
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True)
@click.option("--on-conflict", type=click.Choice(["upsert", "reject"]), default="upsert")
@click.option("--ignore-unknown-fields", is_flag=True)
@click.option("--rejects", type=click.Path(path_type=Path), default=None)
@progress_option
def import_cmd(
    schema: str,
    file: Path,
    tenant: str,
    url: str,
    partner_id: str | None,
    secret: str | None,
    fmt: str | None,
    resume: bool,
    concurrency: int,
    on_conflict: str,
    ignore_unknown_fields: bool,
    rejects: Path | None,
    progress_interval: float,
) -> None:
    """Upsert the records of FILE (CSV or JSON Lines) into SCHEMA through the batch API.

    Rows that cannot be imported go to FILE.rejects.jsonl with their line and reasons; the
    exit status is 1 when there were any. See the README for how CSV cells are typed.
    """
    from reach.bulk import commands
    from reach.bulk.formats import FormatError
    from reach.bulk.importer import ImportFailed
    from reach.client import ReachClientError

    try:
        client = commands.partner_client(url, partner_id, secret, tenant, concurrency)
        with client:
            summary = commands.run_import(
                client,
                schema,
                file,
                fmt=fmt,
                resume=resume,
                concurrency=concurrency,
                on_conflict=on_conflict,
                ignore_unknown_fields=ignore_unknown_fields,
                rejects=rejects,
                progress_interval=progress_interval,
            )
    except (ValueError, FormatError) as exc:
        raise click.ClickException(str(exc)) from None
    except (ImportFailed, ReachClientError) as exc:
        raise click.ClickException(
            f"{exc} (acknowledged rows are kept: --resume continues)"
        ) from None
    except KeyboardInterrupt:
        raise click.ClickException("interrupted; run again with --resume to continue") from None
    _echo_json(summary)
    if summary["rejected"]:
        raise click.ClickException(
            f"{summary['rejected']} row(s) rejected; see {summary['rejectsFile']}"
        )


@main.command(name="export")
@click.argument("schema")
@tenant_option
@url_option
@partner_id_option
@secret_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Default: stdout.",
)
@click.option("--fields", default=None, help="CSV columns, comma-separated (default: all).")
@progress_option
def export_cmd(
    schema: str,
    tenant: str,
    url: str,
    partner_id: str | None,
    secret: str | None,
    fmt: str | None,
    output: Path | None,
    fields: str | None,
    progress_interval: float,
) -> None:
    """Write every record of SCHEMA (its data documents) as JSON Lines or CSV."""
    from reach.bulk import commands
    from reach.bulk.formats import FormatError
    from reach.client import ReachClientError

    try:
        with commands.partner_client(url, partner_id, secret, tenant, 1) as client:
            summary = commands.run_export(
                client,
                schema,
                fmt=fmt,
                output=output,
                fields=[f.strip() for f in fields.split(",") if f.strip()] if fields else None,
                progress_interval=progress_interval,
            )
    except (ValueError, FormatError, ReachClientError) as exc:
        raise click.ClickException(str(exc)) from None
    # With the records on stdout, the summary goes to stderr.
    click.echo(orjson.dumps(summary).decode(), err=output is None)
