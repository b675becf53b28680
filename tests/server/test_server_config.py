"""The ``[server]`` table of the site config: defaults, and one-line errors for what is wrong."""

from __future__ import annotations

import pytest

from nmcluster.config import parse_config
from nmcluster.errors import ConfigError


def test_defaults_and_values(tmp_path):
    site = parse_config({"job_root": str(tmp_path / "jobs")})
    assert site.server.state_dir is None and site.server.collabs == {} and site.server.max_body_bytes == 2_000_000
    site = parse_config({"job_root": str(tmp_path / "jobs"), "server": {
        "collabs": {"563": ["alice", "bob"]}, "provider_platforms": ["SpiNNaker"], "admin_users": ["carol"],
        "state_dir": str(tmp_path / "state"), "max_body_bytes": 4096,
        "oidc_userinfo": "https://iam.example.org/userinfo"}})
    assert site.server.collabs["563"] == ("alice", "bob") and site.server.provider_platforms == ("SpiNNaker",)
    assert site.server.state_dir == tmp_path / "state" and site.server.max_body_bytes == 4096


@pytest.mark.parametrize("table, needle", [
    ({"colabs": {}}, "unknown key(s) colabs in [server]"),
    ({"state_dir": "relative/dir"}, "state_dir must be an absolute path"),
    ({"oidc_userinfo": "http://iam.example.org/userinfo"}, "must be an https:// URL"),
    ({"collabs": {"Bad Collab": ["a"]}}, "is not a collab id"),
    ({"collabs": {"563": "alice"}}, "server.collabs.563"),
    ({"max_body_bytes": 10}, "server.max_body_bytes"),
])
def test_bad_server_table_is_one_line(tmp_path, table, needle):
    with pytest.raises(ConfigError) as err:
        parse_config({"job_root": str(tmp_path / "jobs"), "server": table})
    assert needle in str(err.value) and "\n" not in str(err.value)
