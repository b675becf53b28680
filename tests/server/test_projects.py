"""Resource requests through the REAL client (create, edit/submit, list), their owners and collabs, and an
admin's decision, on the accounting layer's request store (issue 21) - without a Slurm database (quotas
themselves need one: tests/accounting)."""

from __future__ import annotations

import pytest

from tests.server.conftest import nmc, run_client, start_server, stop_server


@pytest.fixture
def acct_server(tmp_path):
    pytest.importorskip("fastapi")
    extra = f'\n[accounting]\nenabled = true\nrequests_dir = "{tmp_path / "srv" / "requests"}"\n'
    srv = start_server(tmp_path / "srv", extra=extra.replace("[accounting]", "[accounting]"))
    nmc(["admin", "requests", "init"], srv.env)
    srv.tokens = {u: srv.token(u) for u in ("alice", "bob", "admin")}
    yield srv
    stop_server(srv)


def test_resource_requests_with_the_real_client(acct_server, client_python, tmp_path):
    out = run_client(client_python, acct_server, "alice", '''
uri = c.create_resource_request("Cortex model", "shared", "A 10k-neuron model", description="details")
rid = uri.rsplit("/", 1)[-1]
before = c.get_resource_request(uri)
changed = c.edit_resource_request(uri, title="Cortex model v2", submit=True)
after = c.get_resource_request(rid)
listed = c.resource_requests("shared")
under_review = c.resource_requests("shared", status="under review")
in_prep = c.resource_requests("shared", status="in preparation")
try:
    c.resource_requests("777"); other = "no error"
except Exception as e:
    other = str(e)
print(json.dumps({"uri": uri, "before": before, "after": after, "listed": listed, "changed": changed,
                  "ur": under_review, "ip": in_prep, "other": other}))
''', tmp_path / "a")
    assert out["uri"].startswith("/projects/") and out["before"]["status"] == "in preparation"
    assert out["before"]["owner"] == "alice" and out["before"]["collab"] == "shared"
    assert out["changed"] == {"status": "under review", "title": "Cortex model v2"}
    assert out["after"]["status"] == "under review" and out["after"]["title"] == "Cortex model v2"
    assert out["after"]["submission_date"] is not None
    assert [p["id"] for p in out["listed"]] == [out["after"]["id"]] == [p["id"] for p in out["ur"]]
    assert out["ip"] == [] and out["other"].startswith("Error 403")
    rid = out["after"]["id"]
    # bob (a member of "shared") sees it but may not edit alice's request, nor decide it
    bob = acct_server.tokens["bob"]
    assert acct_server.json("GET", f"/projects/{rid}", bob)[0] == 200
    status, body = acct_server.json("PUT", f"/projects/{rid}", bob, {"title": "mine now"})
    assert status == 403 and "belongs to another user" in body["detail"]
    status, body = acct_server.json("PUT", f"/projects/{rid}", bob, {"status": "accepted"})
    assert status == 403 and "admins" in body["detail"]
    # the site admin rejects it (accepting sets Slurm limits: tests/accounting)
    status, body = acct_server.json("PUT", f"/projects/{rid}", acct_server.tokens["admin"], {"status": "rejected"})
    assert status == 200 and body["status"] == "rejected" and body["decision_date"]
    # a collab the caller is not in: 403, nothing created
    status, body = acct_server.json("POST", "/projects/", bob, {"collab": "563", "title": "t", "abstract": "a"})
    assert status == 403
    status, body = acct_server.json("POST", "/projects/", bob, {"collab": "777", "title": "t"})
    assert status == 422 and "abstract" in body["detail"]
    assert acct_server.json("GET", "/projects/?collab=777", bob)[1] == []
