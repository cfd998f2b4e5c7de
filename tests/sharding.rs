//! A user spreads one comparison over three load generators (`compare --shard I/3` with a
//! shared `--start-at`) against one server, and merges their results (`compare merge`): the
//! merge counts every call once and its percentiles are those of every shard's samples
//! together, exactly.

mod common;

use std::{path::Path, time::Duration};

use common::binary::Binary;
use compare::{Report, decode_histogram};
use tokio::process::Command;

const SHAPE: [&str; 8] = [
    "--cells",
    "grpc,rest-json-h1",
    "--workloads",
    "unary",
    "--concurrency",
    "6",
    "--format",
    "json",
];

async fn compare(args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rpc-vs-rest"))
        .arg("compare")
        .args(args)
        .output()
        .await
        .expect("run compare")
}

fn succeeded(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "compare failed: {stderr}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn report(json: &str) -> Report {
    serde_json::from_str(json).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_with_a_shared_start_merge_exactly() {
    let server = Binary::start(&[], &[]).await;
    let targets = [
        format!("--grpc-target={}", server.grpc_addr),
        format!("--rest-target={}", server.rest_addr),
        "--warmup=0.3".to_owned(),
        "--duration=1".to_owned(),
    ];
    let start = time::OffsetDateTime::now_utc() + Duration::from_secs(3);
    let start = start.format(&time::format_description::well_known::Rfc3339).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let shards = (0..3).map(|index| {
        let mut args: Vec<String> = SHAPE.iter().map(|arg| (*arg).to_owned()).collect();
        args.extend(targets.iter().cloned());
        args.extend([format!("--shard={index}/3"), format!("--start-at={start}")]);
        let file = dir.path().join(format!("shard-{index}.json"));
        async move {
            let json = succeeded(&compare(&args).await);
            std::fs::write(&file, &json).unwrap();
            report(&json)
        }
    });
    let shards: Vec<Report> = futures_util::future::join_all(shards).await;

    let merged =
        compare(&["merge".into(), dir.path().display().to_string(), "--format=json".into()]).await;
    let merged = report(&succeeded(&merged));
    let overlap = merged.run.merged.as_ref().unwrap().worst_overlap;
    assert!(overlap > 0.5, "the shards measured together: overlap {overlap}");
    for (position, measurement) in merged.measurements.iter().enumerate() {
        let parts: Vec<_> = shards.iter().map(|shard| &shard.measurements[position]).collect();
        let cell = &measurement.cell;
        assert_eq!(measurement.calls, parts.iter().map(|part| part.calls).sum::<u64>(), "{cell}");
        assert_eq!(measurement.errors, 0, "{cell}: {:?}", measurement.first_error);
        // The merged histogram is exactly the histogram of every shard's samples.
        let mut all_samples =
            decode_histogram(parts[0].latency_histogram.as_ref().unwrap()).unwrap();
        for part in &parts[1..] {
            all_samples
                .add(decode_histogram(part.latency_histogram.as_ref().unwrap()).unwrap())
                .unwrap();
        }
        let merged_histogram =
            decode_histogram(measurement.latency_histogram.as_ref().unwrap()).unwrap();
        assert_eq!(merged_histogram, all_samples, "{cell}");
        assert_eq!(merged_histogram.len(), measurement.calls, "{cell}: one sample per call");
        assert_eq!(measurement.p99_us, all_samples.value_at_quantile(0.99), "{cell}");
        assert_eq!(measurement.concurrency, 6, "{cell}: the whole run's concurrency");
    }

    // One generator with all six calls in flight gets about the same rate.
    let mut args: Vec<String> = SHAPE.iter().map(|arg| (*arg).to_owned()).collect();
    args.extend(targets.iter().cloned());
    let whole = report(&succeeded(&compare(&args).await));
    for (merged, whole) in merged.measurements.iter().zip(&whole.measurements) {
        let ratio = merged.requests_per_second / whole.requests_per_second;
        assert!(
            (0.5..=2.0).contains(&ratio),
            "{}: merged {:.0} vs one generator {:.0} calls/s",
            merged.cell,
            merged.requests_per_second,
            whole.requests_per_second
        );
    }

    refuses_what_does_not_belong_together(dir.path(), &targets).await;
}

/// A shard of another run, a file cut short and a file that is not JSON are refused, each
/// with its name, and no panic.
async fn refuses_what_does_not_belong_together(dir: &Path, targets: &[String]) {
    let mut other: Vec<String> =
        ["--cells", "grpc", "--workloads", "unary", "--concurrency", "2", "--format", "json"]
            .iter()
            .map(|arg| (*arg).to_owned())
            .collect();
    other.extend(targets.iter().cloned());
    other.push("--shard=1/3".into());
    let other_file = dir.join("other-run.json");
    std::fs::write(&other_file, succeeded(&compare(&other).await)).unwrap();
    let first = dir.join("shard-0.json");
    let text = std::fs::read_to_string(&first).unwrap();
    let cut = dir.join("cut.json");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "not json at all").unwrap();
    for (bad, says) in
        [(&other_file, "does not belong"), (&cut, "cut.json"), (&garbage, "garbage.json")]
    {
        let output =
            compare(&["merge".into(), first.display().to_string(), bad.display().to_string()])
                .await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{} was merged", bad.display());
        assert!(stderr.contains(says), "{says:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
