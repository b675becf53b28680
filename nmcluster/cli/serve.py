"""``nmcluster serve``: the platform's job-queue API and Job Manager on this site (README "Platform server").

Listens on 127.0.0.1 by default: it is meant to sit behind the site's TLS reverse proxy (nginx), which
passes ``X-Forwarded-Proto``/``Host`` so that the links it returns (signed download URLs) are https.
"""

from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", "bind", default="127.0.0.1", show_default=True,
              help="Address to listen on (keep 127.0.0.1 behind a reverse proxy).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--site-config", type=click.Path(dir_okay=False), default=None,
              help="Site TOML file (default: the usual lookup, $NMCLUSTER_CONFIG first).")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True,
              help="Proxies whose X-Forwarded-* headers are trusted.")
def serve(bind: str, port: int, site_config: str | None, forwarded_allow_ips: str) -> int:
    """Serve the job-queue REST API (the real `nmpi` client works against it) and the Job Manager at /.

    \b
    Examples:
      nmcluster admin token create alice --expires 90d
      nmcluster serve --port 8000
      python -c 'import nmpi; c = nmpi.Client(job_service="https://nm.example.org",
                 user_info_endpoint="https://nm.example.org/userinfo", token="nmct_...")'
    """
    import os

    from nmcluster.errors import UserInputError

    try:
        import uvicorn

        from nmcluster.server.app import create_app
    except ImportError as exc:
        raise UserInputError(f"nmcluster serve needs the server extra (pip install 'nmcluster[server]'): "
                             f"{exc.name} is missing") from None
    from nmcluster.config import load_config

    site = load_config(site_config, env=os.environ) if site_config else None
    app = create_app(site)
    uvicorn.run(app, host=bind, port=port, proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips,
                log_level="warning", access_log=False)
    return 0
