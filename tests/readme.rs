//! The curl and grpcurl examples of the README and of docs/, run as printed against a live
//! server (with its ports in place of 8080 and 50051), print what the documents say they print.

mod common;

use common::{TestServer, tools};
use tokio::process::Command;

/// Every `$ command` in a ```console block, with the lines the README shows after it.
fn console_examples(readme: &str) -> Vec<(String, String)> {
    let mut examples = Vec::new();
    for block in readme.split("```console\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        for example in block.split("\n$ ").map(|e| e.trim_start_matches("$ ")) {
            let (command, output) = example.split_once('\n').unwrap_or((example, ""));
            examples.push((command.to_owned(), output.trim().to_owned()));
        }
    }
    examples
}

#[tokio::test]
async fn readme_console_examples_print_what_the_readme_says() {
    let (Some(curl), Some(grpcurl)) = (tools::require("curl"), tools::require("grpcurl")) else {
        return;
    };
    let path = std::env::join_paths(
        [curl.parent().unwrap(), grpcurl.parent().unwrap()]
            .into_iter()
            .map(|dir| dir.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let readme = common::docs::ALL;
    let examples = console_examples(readme);
    assert!(examples.len() >= 9, "found only {} examples", examples.len());

    let server = TestServer::spawn().await;
    for (command, expected) in examples {
        let live = command
            .replace("localhost:8080", &server.rest_addr.to_string())
            .replace("localhost:50051", &server.grpc_addr.to_string());
        let output =
            Command::new("sh").args(["-c", &live]).env("PATH", &path).output().await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // grpcurl prints errors on stderr; curl prints only its progress meter there.
        let printed = if command.starts_with("grpcurl") && !output.status.success() {
            format!("{stdout}{stderr}")
        } else {
            stdout.into_owned()
        };
        assert_eq!(printed.trim(), expected, "README example: $ {command}");
    }
}
