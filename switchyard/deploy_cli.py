"""`switchyard deploy k8s`: write the Kubernetes manifests of a deployment (docs/deploy.md) from a
values file, to standard output or a file, for `kubectl apply -f` or a GitOps repository. Mount
with ``app.add_typer(deploy_app, name="deploy")``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError

deploy_app = typer.Typer(help="Deployment artifacts: Kubernetes manifests.", no_args_is_help=True)


@deploy_app.command("k8s")
def k8s(
    values: Annotated[Path | None, typer.Option("--values", "-f", help="Values YAML (deploy/k8s/values.yaml shows "
                                                                       "every field); defaults without it.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")]
    = None,
) -> None:
    """Kubernetes manifests: a Deployment per role, probes, HPA, PDBs, migrations Job, Ingress, NetworkPolicies."""
    from .k8s_manifests import manifests
    from .k8s_values import Values

    try:
        raw = yaml.safe_load(values.read_text()) if values is not None else None
        parsed = Values.model_validate(raw or {})
    except (OSError, yaml.YAMLError) as error:
        typer.echo(f"cannot read the values file: {error}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as error:
        typer.echo(f"the values file has problems:\n{error}", err=True)
        raise typer.Exit(2) from None
    text = "---\n".join(yaml.safe_dump(doc, sort_keys=False, width=120) for doc in manifests(parsed))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
