import pytest


@pytest.mark.django_db
def test_anonymous_api_is_401_and_token_user_sees_assets(api, make_user):
    assert api().get("/api/assets/").status_code == 401
    resp = api(make_user("ops")).get("/api/assets/")
    assert resp.status_code == 200
    assert resp.json()["count"] == 0
