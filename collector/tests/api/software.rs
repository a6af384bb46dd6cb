//! `/api/v1/software`: the catalogue.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::App;

#[tokio::test]
async fn catalogue_counts_hosts_by_name_and_by_version_newest_first() {
    let app = App::new().await;
    app.host("a", &[("openssl", "3.0.9"), ("bash", "5.2")])
        .await;
    app.host("b", &[("openssl", "3.0.13"), ("bash", "5.2")])
        .await;
    app.host("c", &[("openssl", "3.0.13")]).await;

    let names = app.get("/api/v1/software", &app.viewer).await;
    assert_eq!(names.status, StatusCode::OK, "{names:?}");
    assert_eq!(
        names.body,
        json!({ "items": [
            { "name": "bash", "hosts": 2 },
            { "name": "openssl", "hosts": 3 },
        ], "next_cursor": null })
    );

    // Newest first by dpkg order: 3.0.13 before 3.0.9.
    let versions = app
        .get("/api/v1/software?software=openssl", &app.viewer)
        .await;
    assert_eq!(
        versions.body["items"],
        json!([
            { "name": "openssl", "version": "3.0.13", "manager": "dpkg", "hosts": 2 },
            { "name": "openssl", "version": "3.0.9", "manager": "dpkg", "hosts": 1 },
        ])
    );
    let by_name = app.get("/api/v1/software?name=bash", &app.viewer).await;
    assert_eq!(
        by_name.body["items"],
        json!([{ "name": "bash", "version": "5.2", "manager": "dpkg", "hosts": 2 }])
    );
    let csv = app.get("/api/v1/software?format=csv", &app.viewer).await;
    assert_eq!(csv.text(), "hosts,name\n2,bash\n3,openssl\n");

    // A retired host no longer counts: d, last seen 100 days ago, retires.
    let now = rollcall_proto::now_ms();
    let day = 86_400_000;
    app.host_with(
        "d",
        "",
        vec![crate::support::package("openssl", "3.0.9")],
        now - 100 * day,
    )
    .await;
    let (_, retired) = app
        .state
        .store
        .update_lifecycle(now, day, 30 * day)
        .await
        .expect("lifecycle");
    assert_eq!(retired.len(), 1);
    let names = app.get("/api/v1/software", &app.viewer).await;
    assert_eq!(
        names.body["items"][1],
        json!({ "name": "openssl", "hosts": 3 })
    );
    let versions = app
        .get("/api/v1/software?software=openssl", &app.viewer)
        .await;
    assert_eq!(versions.body["items"][1]["hosts"], 1, "{}", versions.body);
}

#[tokio::test]
async fn catalogue_needs_a_token() {
    let app = App::new().await;
    app.assert_needs_token(Method::GET, "/api/v1/software", None)
        .await;
}

#[tokio::test]
async fn catalogue_rejects_bad_queries() {
    let app = App::new().await;
    App::assert_bad_request(
        &app.get("/api/v1/software?format=yaml", &app.viewer).await,
        "format must be json or csv",
    );
    App::assert_bad_request(
        &app.get("/api/v1/software?package=x", &app.viewer).await,
        "unknown field `package`",
    );
}

/// Version filters on the catalogue and `/software/{name}/hosts`, on both
/// backends.
mod filtered {
    use std::collections::BTreeSet;

    use axum::http::{Method, StatusCode};
    use serde_json::json;

    use crate::on_both_backends;
    use crate::support::App;

    fn hostnames(reply: &crate::support::Reply) -> BTreeSet<String> {
        reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|host| host["hostname"].as_str().expect("hostname").to_string())
            .collect()
    }

    async fn versions_and_hosts_of_a_package_take_version_filters(app: App) {
        app.host("old", &[("openssl", "3.0.9-1")]).await;
        app.host("rc", &[("openssl", "3.0.13~rc1-1")]).await;
        app.host("new", &[("openssl", "3.0.13-1~deb12u1")]).await;
        app.host("newer", &[("openssl", "1:3.0.0-1")]).await;
        app.host("other", &[("bash", "5.2.15-2+b2")]).await;

        let below = app
            .get(
                "/api/v1/software?software=openssl&version=3.0.13&op=%3C",
                &app.viewer,
            )
            .await;
        assert_eq!(below.status, StatusCode::OK, "{below:?}");
        assert_eq!(
            below.body["items"],
            json!([
                { "name": "openssl", "version": "3.0.13~rc1-1", "manager": "dpkg", "hosts": 1 },
                { "name": "openssl", "version": "3.0.9-1", "manager": "dpkg", "hosts": 1 },
            ])
        );
        let at_least = app
            .get(
                "/api/v1/software?name=openssl&version_ge=3.0.13",
                &app.viewer,
            )
            .await;
        let versions: Vec<&str> = at_least.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|line| line["version"].as_str().expect("version"))
            .collect();
        assert_eq!(versions, ["1:3.0.0-1", "3.0.13-1~deb12u1"], "newest first");

        for (query, want) in [
            ("", vec!["new", "newer", "old", "rc"]),
            ("?version=3.0.13&op=%3C", vec!["old", "rc"]),
            ("?version=3.0.13&op=ge", vec!["new", "newer"]),
            ("?version=3.0.13-1~deb12u1", vec!["new"]),
            ("?version=3.0.13&op=%3C&name=r*", vec!["rc"]),
            ("?version_gt=3.0.9-1&version_lt=1:0", vec!["new", "rc"]),
        ] {
            let reply = app
                .get(
                    &format!("/api/v1/software/openssl/hosts{query}"),
                    &app.viewer,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{query}: {reply:?}");
            let want: BTreeSet<String> = want.into_iter().map(String::from).collect();
            assert_eq!(hostnames(&reply), want, "{query}");
        }
        let none = app.get("/api/v1/software/zsh/hosts", &app.viewer).await;
        assert_eq!(none.body["items"], json!([]));
    }

    async fn version_filters_refuse_bad_input(app: App) {
        app.host("old", &[("openssl", "3.0.9-1")]).await;
        for (uri, needle) in [
            ("/api/v1/software?version=1.0", "need software=NAME"),
            (
                "/api/v1/software?software=openssl&op=%3C",
                "op needs version=",
            ),
            (
                "/api/v1/software?software=openssl&version=1%27%3B--",
                "is not a package version",
            ),
            (
                "/api/v1/software?software=openssl&version=1&op=~",
                "op must be one of",
            ),
            ("/api/v1/software?software=", "1 to 256 bytes"),
            (
                "/api/v1/software/openssl/hosts?software=bash",
                "given by the path",
            ),
            (
                "/api/v1/software/openssl/hosts?version=x:1",
                "is not a package version",
            ),
            ("/api/v1/software/openssl/hosts?op=%3C", "op needs version="),
            (
                "/api/v1/software/openssl/hosts?bogus=1",
                "unknown parameter `bogus`",
            ),
        ] {
            App::assert_bad_request(&app.get(uri, &app.viewer).await, needle);
        }
        app.assert_needs_token(Method::GET, "/api/v1/software/openssl/hosts", None)
            .await;
    }

    on_both_backends!(
        versions_and_hosts_of_a_package_take_version_filters,
        version_filters_refuse_bad_input,
    );
}
