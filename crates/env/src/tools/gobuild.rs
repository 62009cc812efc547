//! Building Go programs from the Go module proxy in a generated wrapper
//! module, cached by version.
//!
//! The wrapper module requires each package's module at its pinned version
//! and may `replace` modules (Kubernetes needs its staging modules replaced
//! with their published versions, because its own go.mod points them at
//! local paths, which `go install pkg@version` refuses). It may also hold
//! its own `main` package ([`GoBuild::own_main`]), for a program assembled
//! from a module's packages, as CoreDNS is with a chosen set of plugins.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::exec::{Cmd, which};
use super::{ToolError, io_err, write_atomic};

const MARKER: &str = ".complete";

/// One cached Go build: packages at versions, built into `<dir>/bin`.
#[derive(Debug, Clone)]
pub struct GoBuild {
    name: String,
    version: String,
    packages: Vec<(String, String)>,
    replaces: Vec<(String, String)>,
    ldflags: String,
    renames: Vec<(String, String)>,
    own_main: Option<(String, String)>,
    tags: String,
    expected_minutes: u32,
}

impl GoBuild {
    pub fn new(name: &str, version: &str) -> GoBuild {
        GoBuild {
            name: name.to_string(),
            version: version.to_string(),
            packages: Vec::new(),
            replaces: Vec::new(),
            ldflags: String::new(),
            renames: Vec::new(),
            own_main: None,
            tags: String::new(),
            expected_minutes: 2,
        }
    }

    /// A `main` package to build, from its module at `version`.
    pub fn package(mut self, package: &str, version: &str) -> GoBuild {
        self.packages
            .push((package.to_string(), version.to_string()));
        self
    }

    /// `replace MODULE => MODULE VERSION` in the wrapper module.
    pub fn replace(mut self, module: &str, version: &str) -> GoBuild {
        self.replaces
            .push((module.to_string(), version.to_string()));
        self
    }

    /// Extra `-ldflags` (after `-s -w`).
    pub fn ldflags(mut self, flags: impl Into<String>) -> GoBuild {
        self.ldflags = flags.into();
        self
    }

    /// Go build tags (`-tags`, comma-separated).
    pub fn tags(mut self, tags: impl Into<String>) -> GoBuild {
        self.tags = tags.into();
        self
    }

    /// Rename a built binary (`go build` names `.../server/v3` "server").
    pub fn rename(mut self, from: &str, to: &str) -> GoBuild {
        self.renames.push((from.to_string(), to.to_string()));
        self
    }

    /// Builds the wrapper module's own `main` package (`source`, written as
    /// `main.go`) into the binary `binary`, instead of the packages: these
    /// then only pin the modules `main.go` imports from.
    pub fn own_main(mut self, binary: &str, source: impl Into<String>) -> GoBuild {
        self.own_main = Some((binary.to_string(), source.into()));
        self
    }

    /// How long a cold build takes on a 2-core machine, for the message.
    pub fn expected_minutes(mut self, minutes: u32) -> GoBuild {
        self.expected_minutes = minutes;
        self
    }

    /// The binaries this build produces.
    pub fn binaries(&self) -> Vec<String> {
        if let Some((binary, _)) = &self.own_main {
            return vec![binary.clone()];
        }
        self.packages
            .iter()
            .map(|(p, _)| {
                let mut parts: Vec<&str> = p.split('/').collect();
                // A trailing major-version element (`/v3`) is not the name.
                if parts.len() > 1
                    && parts.last().is_some_and(|l| {
                        l.len() > 1
                            && l.starts_with('v')
                            && l[1..].chars().all(|c| c.is_ascii_digit())
                    })
                {
                    parts.pop();
                }
                let name = parts.last().copied().unwrap_or(p.as_str()).to_string();
                self.renames
                    .iter()
                    .find(|(from, _)| *from == name)
                    .map(|(_, to)| to.clone())
                    .unwrap_or(name)
            })
            .collect()
    }

    /// The generated wrapper `go.mod`.
    pub fn go_mod(&self) -> String {
        let mut s = format!("module inferbench.local/build-{}\n\ngo 1.24.0\n", self.name);
        if !self.replaces.is_empty() {
            s.push_str("\nreplace (\n");
            for (m, v) in &self.replaces {
                s.push_str(&format!("\t{m} => {m} {v}\n"));
            }
            s.push_str(")\n");
        }
        s
    }

    /// Holds `<dir>.lock` until dropped, waiting (with a message) while
    /// another process holds it.
    fn lock(&self, dir: &Path) -> Result<std::fs::File, ToolError> {
        let path = dir.with_extension("lock");
        crate::lock::exclusive(&path, &format!("{} {}", self.name, self.version))
            .map_err(io_err(format!("locking {}", path.display())))
    }

    /// Builds unless `<dir>/.complete` and every binary exist; returns
    /// `<dir>/bin`.
    pub fn ensure(&self, dir: &Path) -> Result<PathBuf, ToolError> {
        let bin = dir.join("bin");
        if self.is_complete(dir) {
            return Ok(bin);
        }
        // One build of a tool at a time, across processes (the cluster
        // bring-up and a test may both ask for kubectl on a cold machine):
        // the second waits for the first and then finds it built.
        let _lock = self.lock(dir)?;
        if self.is_complete(dir) {
            return Ok(bin);
        }
        let go = which("go").ok_or(ToolError::GoMissing)?;
        eprintln!(
            "inferbench: building {} {} from the Go module proxy (cold: about {} min on 2 cores; cached in {})",
            self.name,
            self.version,
            self.expected_minutes,
            dir.display()
        );
        let started = Instant::now();
        let src = dir.join("src");
        std::fs::create_dir_all(&src).map_err(io_err(format!("creating {}", src.display())))?;
        let _ = std::fs::remove_file(src.join("go.sum"));
        write_atomic(&src.join("go.mod"), self.go_mod().as_bytes())?;
        let main_go = src.join("main.go");
        match &self.own_main {
            Some((_, source)) => write_atomic(&main_go, source.as_bytes())?,
            None => {
                let _ = std::fs::remove_file(&main_go);
            }
        }
        let build_err = |source| ToolError::Build {
            tool: self.name.clone(),
            version: self.version.clone(),
            source,
        };
        let wanted: Vec<String> = self
            .packages
            .iter()
            .map(|(p, v)| format!("{p}@{v}"))
            .collect();
        Cmd::new(&go)
            .arg("get")
            .args(&wanted)
            .current_dir(&src)
            .env("GOFLAGS", "-mod=mod")
            .timeout(Duration::from_secs(1800))
            .progress(format!("go get {}", self.name))
            .run()
            .map_err(build_err)?;
        std::fs::create_dir_all(&bin).map_err(io_err(format!("creating {}", bin.display())))?;
        let ldflags = format!("-s -w {}", self.ldflags).trim().to_string();
        // `-o DIR/` names each binary after its package; an own main is
        // one binary with its own name.
        let (out, targets): (std::ffi::OsString, Vec<&str>) = match &self.own_main {
            Some((binary, _)) => (bin.join(binary).into_os_string(), vec!["."]),
            None => {
                let mut dir = bin.clone().into_os_string();
                dir.push("/");
                (dir, self.packages.iter().map(|(p, _)| p.as_str()).collect())
            }
        };
        let mut cmd = if which("nice").is_some() {
            Cmd::new("nice").args(["-n", "10"]).arg(&go)
        } else {
            Cmd::new(&go)
        };
        cmd = cmd.args(["build", "-trimpath", "-ldflags", &ldflags]);
        if !self.tags.is_empty() {
            cmd = cmd.args(["-tags", &self.tags]);
        }
        cmd = cmd
            .arg("-o")
            .arg(out)
            .args(targets)
            .current_dir(&src)
            .env("CGO_ENABLED", "0")
            .env("GOFLAGS", "-mod=mod")
            .timeout(Duration::from_secs(
                u64::from(self.expected_minutes.max(5)) * 60 * 5,
            ))
            .progress(format!("go build {}", self.name));
        cmd.run().map_err(build_err)?;
        for (from, to) in &self.renames {
            let (f, t) = (bin.join(from), bin.join(to));
            if f.exists() {
                std::fs::rename(&f, &t).map_err(io_err(format!("renaming {}", f.display())))?;
            }
        }
        write_atomic(
            &dir.join(MARKER),
            format!(
                "{} {} built in {}s\n",
                self.name,
                self.version,
                started.elapsed().as_secs()
            )
            .as_bytes(),
        )?;
        eprintln!(
            "inferbench: built {} {} in {}s",
            self.name,
            self.version,
            started.elapsed().as_secs()
        );
        Ok(bin)
    }

    fn is_complete(&self, dir: &Path) -> bool {
        dir.join(MARKER).exists()
            && self
                .binaries()
                .iter()
                .all(|b| dir.join("bin").join(b).is_file())
    }
}

/// Downloads `module@version` into the Go module cache and returns its
/// folder there.
pub fn module_dir(module: &str, version: &str) -> Result<PathBuf, ToolError> {
    let go = which("go").ok_or(ToolError::GoMissing)?;
    let out = Cmd::new(go)
        .args(["mod", "download", "-json"])
        .arg(format!("{module}@{version}"))
        .env("GOFLAGS", "-mod=mod")
        .timeout(Duration::from_secs(600))
        .run()
        .map_err(|source| ToolError::Build {
            tool: module.to_string(),
            version: version.to_string(),
            source,
        })?;
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Dir")]
        dir: Option<PathBuf>,
    }
    let info: Info = serde_json::from_str(&out.stdout).map_err(|e| ToolError::Io {
        what: format!("parsing `go mod download -json {module}@{version}`"),
        source: std::io::Error::other(e),
    })?;
    info.dir.ok_or_else(|| ToolError::Io {
        what: format!("`go mod download` gave no folder for {module}@{version}"),
        source: std::io::Error::other("missing Dir"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_names_skip_major_version_suffix_and_apply_renames() {
        let b = GoBuild::new("etcd", "v3.6.5")
            .package("go.etcd.io/etcd/server/v3", "v3.6.5")
            .package("go.etcd.io/etcd/etcdctl/v3", "v3.6.5")
            .rename("server", "etcd");
        assert_eq!(
            b.binaries(),
            vec!["etcd".to_string(), "etcdctl".to_string()]
        );
        let k = GoBuild::new("kind", "v0.30.0").package("sigs.k8s.io/kind", "v0.30.0");
        assert_eq!(k.binaries(), vec!["kind".to_string()]);
    }

    #[test]
    fn own_main_is_one_binary_of_its_own_name() {
        let b = GoBuild::new("coredns", "v1.12.1")
            .package("github.com/coredns/coredns", "v1.12.1")
            .own_main("coredns", "package main\n");
        assert_eq!(b.binaries(), vec!["coredns".to_string()]);
    }

    #[test]
    fn go_mod_replaces_staging_modules() {
        let b = GoBuild::new("kubernetes", "v1.34.4")
            .package("k8s.io/kubernetes/cmd/kubeadm", "v1.34.4")
            .replace("k8s.io/api", "v0.34.4");
        let m = b.go_mod();
        assert!(m.contains("module inferbench.local/build-kubernetes"));
        assert!(m.contains("\tk8s.io/api => k8s.io/api v0.34.4\n"));
    }
}
