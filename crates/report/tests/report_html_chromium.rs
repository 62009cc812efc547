//! Opens the HTML report of the fixture run in headless Chromium and checks
//! the DOM after its scripts ran: no script error, every chart plotted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use environment::tools::exec::{Cmd, is_root, which};
use report::{RunReport, json};

const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(120);

fn fixture() -> RunReport {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/run.json");
    json::read(&path).expect("the fixture run reads")
}

/// Browsers that take Chromium's flags, in order of preference.
const BROWSERS: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// Chromium (or Chrome) from PATH, installed with apt-get (Debian's
/// `chromium`) when missing and this process is root.
fn ensure_chromium() -> PathBuf {
    let find = || BROWSERS.into_iter().find_map(which);
    if let Some(path) = find() {
        return path;
    }
    assert!(
        is_root() && which("apt-get").is_some(),
        "chromium is not installed and cannot be installed here (needs root and apt-get): \
         install it (`sudo apt-get install chromium`) and run again"
    );
    environment::docker::apt_install(&["chromium"]).expect("apt-get install chromium");
    find().expect("chromium on PATH after installing it")
}

/// The page's DOM after its scripts ran, and Chromium's log.
fn dump_dom(chromium: &Path, page: &Path, profile: &Path) -> (String, String) {
    let url = format!("file://{}", page.display());
    let output = Cmd::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .timeout(CHROMIUM_TIMEOUT)
        .run()
        .expect("chromium --dump-dom");
    (output.stdout, output.stderr)
}

/// The value of `name="..."` on the page's `<body>` tag.
fn body_attribute<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let start = dom.find("<body")?;
    let tag = &dom[start..start + dom[start..].find('>')?];
    let value_start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let value_len = tag[value_start..].find('"')?;
    Some(&tag[value_start..value_start + value_len])
}

/// How many charts the fixture's page has: per scenario a timeline, per
/// load two, per series one.
fn expected_charts(report: &RunReport) -> usize {
    report
        .scenarios
        .iter()
        .map(|s| 1 + 2 * s.loads.len() + s.series.len() + if s.gpus.is_empty() { 0 } else { 2 })
        .sum()
}

/// The `<svg class="chart" ...>...</svg>` elements of the DOM.
fn charts(dom: &str) -> Vec<&str> {
    dom.match_indices("<svg class=\"chart\"")
        .map(|(start, _)| {
            let end = dom[start..].find("</svg>").map_or(dom.len(), |e| start + e);
            &dom[start..end]
        })
        .collect()
}

#[test]
#[ignore = "needs chromium (installed by the test)"]
fn html_report_renders_in_headless_chromium() {
    let chromium = ensure_chromium();
    let report = fixture();
    let dir = tempfile::tempdir().expect("tempdir");
    let written = report::write_folder(dir.path(), &report).expect("report written");
    let (dom, log) = dump_dom(&chromium, &written.html, &dir.path().join("profile"));

    assert_eq!(
        body_attribute(&dom, "data-rendered"),
        Some("ok"),
        "the page's script did not finish; errors: {:?}\nlog:\n{log}",
        body_attribute(&dom, "data-errors")
    );
    assert_eq!(body_attribute(&dom, "data-errors"), None, "log:\n{log}");
    for line in log.lines() {
        assert!(
            !(line.contains("CONSOLE") || line.contains("Uncaught")),
            "console message from the page: {line}"
        );
    }

    let expected = expected_charts(&report);
    let count = expected.to_string();
    assert_eq!(body_attribute(&dom, "data-charts"), Some(count.as_str()));
    assert_eq!(
        body_attribute(&dom, "data-charts-plotted"),
        Some(count.as_str())
    );
    let charts = charts(&dom);
    assert_eq!(charts.len(), expected);
    for chart in charts {
        let plotted = chart.contains("<path class=\"series")
            || chart.contains("<rect class=\"span")
            || chart.contains("<circle class=\"mark");
        assert!(plotted, "a chart with nothing plotted: {chart:.300}");
        if chart.contains("data-chart=\"load-") || chart.contains("data-chart=\"series\"") {
            assert!(chart.contains("<circle class=\"point\""), "{chart:.300}");
            assert!(chart.contains(" d=\"M"), "{chart:.300}");
        }
    }
}
