"""Commands of local online endpoints: new-endpoint, endpoints, serve, invoke, endpoint-test.
None of them imports an Azure SDK."""

import argparse

from amlops.cli.options import Commands, Options
from amlops.project import Project


def _endpoint(sub: argparse.ArgumentParser, options: Options) -> None:
    sub.add_argument(
        "--endpoint",
        default=options.setting("ENDPOINT"),
        help="endpoints/<name>/ (ENDPOINT; default: the only one)",
    )


def _port(value: str) -> int:
    return int(value) if str(value).strip() else 0


def register(commands: Commands, options: Options) -> None:
    new = options.command(
        commands, "new-endpoint", "create endpoints/<name>/ from templates/endpoint/", exp=False
    )
    new.add_argument("--name", default=options.setting("NAME"), help="endpoint name (NAME)")
    new.add_argument(
        "--exp", default=options.setting("EXP"), help="experiment whose model it serves (EXP)"
    )
    new.set_defaults(func=_new_endpoint)
    options.command(
        commands, "endpoints", "list the endpoints under endpoints/", exp=False
    ).set_defaults(func=_endpoints)
    serve = options.command(
        commands, "serve", "serve an online endpoint locally, as Azure ML serves it", exp=False
    )
    _endpoint(serve, options)
    serve.add_argument(
        "--deployment", default=options.setting("DEPLOYMENT"), help="serve one (DEPLOYMENT)"
    )
    serve.add_argument(
        "--model",
        default=options.setting("MODEL"),
        help="run id, path or azureml:name:version instead of the deployment's (MODEL)",
    )
    serve.add_argument(
        "--port",
        default=options.setting("PORT"),
        help="the endpoint's local port (PORT; default a free one)",
    )
    options.runtime(serve)
    serve.set_defaults(func=_serve)
    invoke = options.command(
        commands, "invoke", "post a request to the locally served endpoint", exp=False
    )
    _endpoint(invoke, options)
    invoke.add_argument(
        "--request", default=options.setting("REQUEST"), help="JSON request file (REQUEST)"
    )
    invoke.add_argument(
        "--deployment", default=options.setting("DEPLOYMENT"), help="pick one (DEPLOYMENT)"
    )
    options.switch(invoke, "CLOUD", "post to the endpoint in Azure ML instead")
    invoke.set_defaults(func=_invoke)
    test = options.command(
        commands,
        "endpoint-test",
        "contract checks against a freshly served endpoint (requests/, auth, timeouts)",
        exp=False,
    )
    _endpoint(test, options)
    test.add_argument("--model", default=options.setting("MODEL"), help="as for serve (MODEL)")
    options.runtime(test)
    test.set_defaults(func=_endpoint_test)


def _new_endpoint(args: argparse.Namespace, project: Project) -> int:
    from amlops.newendpoint import create_endpoint

    experiment = args.exp or (project.experiments() or ["train"])[0]
    create_endpoint(project.root, args.name, experiment)
    return 0


def _endpoints(args: argparse.Namespace, project: Project) -> int:
    from amlops.spec.endpoints import endpoint_names

    names = endpoint_names(project)
    if names:
        print("\n".join(names))
    return 0


def _serve(args: argparse.Namespace, project: Project) -> int:
    from amlops.errors import UserError
    from amlops.serving.serve import serve

    try:
        port = _port(args.port)
    except ValueError:
        raise UserError(f"PORT={args.port!r}: give a port number") from None
    return serve(project, args.endpoint, args.deployment, args.model, port, args.runtime)


def _invoke(args: argparse.Namespace, project: Project) -> int:
    if args.cloud:
        from amlops.cloud.invoke import invoke_cloud

        return invoke_cloud(project, args.endpoint, args.request, args.deployment)
    from amlops.serving.invoke import invoke

    return invoke(project, args.endpoint, args.request, args.deployment)


def _endpoint_test(args: argparse.Namespace, project: Project) -> int:
    from amlops.serving.contract import endpoint_test

    return endpoint_test(project, args.endpoint, args.model, args.runtime)
