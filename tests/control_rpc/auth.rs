//! porla's token checks, P10 and around it (`src/http/jwthandler.cpp`): the
//! token is looked for in `x-porla-token`, `Authorization`, then the
//! `porla-auth-token` cookie (the first present wins; the headers lose their
//! first 7 characters), verified as HS256 with the state directory's secret
//! and `iss == "porla"`, with jwt-cpp's default claim checks; a refusal is
//! `401 Unauthorized` before any method is looked at.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::http::{post, HttpResponse, Rpc};
use crate::common::*;
use crate::{start, unix_now, v1_torrent};
use ringseed::control::rpc::auth::Auth;

const SESSIONS_LIST: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"sessions.list","params":{}}"#;

#[test]
fn p10_auth_refuses_missing_wrong_and_foreign_tokens_and_finds_tokens_in_porla_order() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, _) = v1_torrent(dir.path(), "plain", 50_000, 16 * 1024);
    let seeder = start(dir.path(), &[], &[&torrent]);
    let api = Rpc::of(&seeder);
    let secret = std::fs::read_to_string(seeder.state_dir.join("rpc.secret")).unwrap();
    let secret = secret.trim();

    refuses_no_token_another_secret_another_issuer_and_garbage(&api, secret);
    checks_exp_nbf_iat_and_the_algorithm_as_jwt_cpp_does(&api, secret);
    accepts_its_own_and_ringseed_tokens_in_each_place_porla_looks(&api, &seeder);
    the_first_place_present_decides(&api);
    unauthenticated_requests_learn_nothing(&api);
    with_auth_off_no_token_is_needed();
}

fn unauthorized(r: HttpResponse, what: &str) {
    assert_eq!((r.status, r.body.as_str()), (401, "Unauthorized"), "{what}");
}

fn ok(r: HttpResponse, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.body);
    assert!(r.body.contains("\"result\""), "{what}: {}", r.body);
}

/// `sessions.list` with `Authorization: Bearer TOKEN`.
fn bearer(api: &Rpc, token: &str) -> HttpResponse {
    post(
        api.addr,
        &[("Authorization", &format!("Bearer {token}"))],
        SESSIONS_LIST,
    )
}

/// A token of `claims` signed with `alg` and `secret`.
fn sign(secret: &str, alg: jsonwebtoken::Algorithm, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn refuses_no_token_another_secret_another_issuer_and_garbage(api: &Rpc, secret: &str) {
    use jsonwebtoken::Algorithm::HS256;
    // P10: no token at all.
    unauthorized(post(api.addr, &[], SESSIONS_LIST), "no token");
    // A token signed with another secret.
    let other = Auth::from_secret(b"ffffffffffffffffffffffffffffffffffffffff").issue();
    unauthorized(bearer(api, &other), "another secret");
    // Our secret but another issuer.
    let foreign = sign(secret, HS256, json!({"iss": "someone", "iat": unix_now()}));
    unauthorized(bearer(api, &foreign), "iss someone");
    // No iss at all.
    let no_iss = sign(secret, HS256, json!({"iat": unix_now()}));
    unauthorized(bearer(api, &no_iss), "no iss");
    // Garbage, and a header of 7 characters (absent).
    unauthorized(bearer(api, "not.a.jwt"), "garbage");
    unauthorized(bearer(api, ""), "7 chars");
}

fn checks_exp_nbf_iat_and_the_algorithm_as_jwt_cpp_does(api: &Rpc, secret: &str) {
    // porla verifies with jwt-cpp's defaults: HS256 only, and `exp`, `nbf`
    // and `iat` are checked when present (leeway 0); none is required.
    let now = unix_now();
    use jsonwebtoken::Algorithm::{HS256, HS512};
    for (claims, what) in [
        (
            json!({"iss": "porla", "iat": now - 7200, "exp": now - 3600}),
            "expired",
        ),
        (
            json!({"iss": "porla", "iat": now, "nbf": now + 3600}),
            "not valid before an hour",
        ),
        (
            json!({"iss": "porla", "iat": now + 3600}),
            "issued in an hour",
        ),
    ] {
        unauthorized(bearer(api, &sign(secret, HS256, claims)), what);
    }
    unauthorized(
        bearer(
            api,
            &sign(secret, HS512, json!({"iss": "porla", "iat": now})),
        ),
        "HS512",
    );
    for (claims, what) in [
        // A login token (`POST /api/v1/auth/login` issues one for a day).
        (
            json!({"iss": "porla", "iat": now, "exp": now + 86400}),
            "login token",
        ),
        (json!({"iss": "porla"}), "iss only"),
        (
            json!({"iss": "porla", "iat": now - 60, "nbf": now - 60, "sub": "x"}),
            "more claims",
        ),
    ] {
        let r = bearer(api, &sign(secret, HS256, claims));
        assert_eq!(r.status, 200, "{what}: {}", r.body);
    }
}

fn accepts_its_own_and_ringseed_tokens_in_each_place_porla_looks(api: &Rpc, seeder: &Seeder) {
    // porla's own token (iss porla, typ JWS, made with our secret) is accepted;
    // so is `ringseed token`'s.
    let printed = Command::new(RINGSEED)
        .args(["token", "--state-dir"])
        .arg(&seeder.state_dir)
        .output()
        .unwrap();
    assert!(printed.status.success());
    let cli_token = String::from_utf8(printed.stdout)
        .unwrap()
        .trim()
        .to_string();
    for t in [&api.token, &cli_token] {
        // Each place porla looks: x-porla-token (its first 7 characters are
        // dropped too), Authorization, the porla-auth-token cookie.
        ok(
            post(
                api.addr,
                &[("x-porla-token", &format!("Bearer {t}"))],
                SESSIONS_LIST,
            ),
            "x-porla-token",
        );
        ok(
            post(
                api.addr,
                &[("Authorization", &format!("Bearer {t}"))],
                SESSIONS_LIST,
            ),
            "Authorization",
        );
        ok(
            post(
                api.addr,
                &[("Cookie", &format!("theme=dark; porla-auth-token={t}"))],
                SESSIONS_LIST,
            ),
            "cookie",
        );
    }
}

fn the_first_place_present_decides(api: &Rpc) {
    let t = &api.token;
    // The order: the first place present is the one used.
    unauthorized(
        post(
            api.addr,
            &[
                ("x-porla-token", "Bearer wrong.token.here"),
                ("Authorization", &format!("Bearer {t}")),
            ],
            SESSIONS_LIST,
        ),
        "a bad x-porla-token wins over a good Authorization",
    );
    unauthorized(
        post(
            api.addr,
            &[
                ("Authorization", "Bearer wrong.token.here"),
                ("Cookie", &format!("porla-auth-token={t}")),
            ],
            SESSIONS_LIST,
        ),
        "a bad Authorization wins over a good cookie",
    );
    ok(
        post(
            api.addr,
            &[
                ("x-porla-token", "short"),
                ("Authorization", &format!("Bearer {t}")),
            ],
            SESSIONS_LIST,
        ),
        "an x-porla-token of 7 characters or fewer counts as absent",
    );
}

fn unauthenticated_requests_learn_nothing(api: &Rpc) {
    // Unauthenticated requests learn nothing, even of unknown methods.
    unauthorized(
        post(
            api.addr,
            &[],
            br#"{"jsonrpc":"2.0","id":1,"method":"nope","params":{}}"#,
        ),
        "unknown method without a token",
    );
}

fn with_auth_off_no_token_is_needed() {
    let dir2 = tempfile::tempdir().unwrap();
    let (torrent2, _) = v1_torrent(dir2.path(), "plain", 50_000, 16 * 1024);
    let open = start(dir2.path(), &["--rpc-auth", "false"], &[&torrent2]);
    ok(post(open.rpc.unwrap(), &[], SESSIONS_LIST), "auth off");
}
