//! `vllm serve MODEL [flags]`: vLLM's command line, understood well enough
//! that a manifest written for vLLM runs the mock unchanged (the image has
//! the binary as `/usr/local/bin/vllm` too).
//!
//! Flags the mock implements pass through (`--host`, `--port`,
//! `--served-model-name`, `--max-model-len`, `--max-num-seqs`); flags about
//! GPUs and weights are accepted and reported as ignored; anything else
//! reaches the mock's own parser, which names what it does not know.

use std::ffi::OsString;

/// vLLM flags that take a value and mean nothing without a GPU.
const IGNORED_WITH_VALUE: &[&str] = &[
    "gpu-memory-utilization",
    "dtype",
    "tensor-parallel-size",
    "pipeline-parallel-size",
    "max-num-batched-tokens",
    "block-size",
    "download-dir",
    "quantization",
    "kv-cache-dtype",
    "swap-space",
    "seed",
    "uvicorn-log-level",
    "tokenizer",
    "revision",
    "max-lora-rank",
    "max-cpu-loras",
];

/// vLLM switches (no value) that mean nothing without a GPU.
const IGNORED_SWITCHES: &[&str] = &[
    "trust-remote-code",
    "enforce-eager",
    "enable-chunked-prefill",
    "enable-prefix-caching",
    "disable-log-requests",
    "disable-log-stats",
    "enable-lora",
];

/// The mock's own command line for a vLLM one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// Arguments for the mock's parser (without the program name).
    pub args: Vec<OsString>,
    /// The model tag vLLM would load.
    pub model: Option<String>,
    /// vLLM flags accepted and ignored, for a log line.
    pub ignored: Vec<String>,
}

/// Whether this invocation is vLLM's (`vllm serve ...`, or the program
/// called `vllm`).
pub fn is_vllm_invocation(program: &str, args: &[OsString]) -> bool {
    let name = std::path::Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name == "vllm" || args.first().is_some_and(|a| a == "serve")
}

/// Translates `serve MODEL [flags]` (after the program name).
pub fn translate(args: &[OsString]) -> Result<Translated, String> {
    let mut rest: Vec<String> = args
        .iter()
        .map(|a| {
            a.to_str()
                .map(str::to_string)
                .ok_or_else(|| format!("argument {a:?} is not UTF-8"))
        })
        .collect::<Result<_, _>>()?;
    if rest.first().map(String::as_str) == Some("serve") {
        rest.remove(0);
    } else if !rest.is_empty() && !rest[0].starts_with('-') {
        return Err(format!(
            "vllm {}: only `vllm serve MODEL [flags]` is understood",
            rest[0]
        ));
    }
    let mut out = Translated {
        args: Vec::new(),
        model: None,
        ignored: Vec::new(),
    };
    let mut served_name_given = false;
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i].clone();
        i += 1;
        let Some(flag) = arg.strip_prefix("--") else {
            if out.model.is_none() {
                out.model = Some(arg);
                continue;
            }
            return Err(format!(
                "unexpected argument {arg:?}: the model is already {:?}",
                out.model.as_deref().unwrap_or_default()
            ));
        };
        // vLLM accepts `--max_model_len` as well as `--max-model-len`.
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n.replace('_', "-"), Some(v.to_string())),
            None => (flag.replace('_', "-"), None),
        };
        let value = |i: &mut usize| -> Result<String, String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            let v = rest
                .get(*i)
                .cloned()
                .ok_or_else(|| format!("--{name} needs a value"))?;
            *i += 1;
            Ok(v)
        };
        match name.as_str() {
            "model" => out.model = Some(value(&mut i)?),
            "served-model-name" => {
                served_name_given = true;
                let v = value(&mut i)?;
                out.args.push(format!("--served-model-name={v}").into());
            }
            "lora-modules" => {
                // One or more NAME=PATH values (vLLM's nargs='+').
                let mut modules = Vec::new();
                if let Some(v) = &inline {
                    modules.push(v.clone());
                }
                while let Some(v) = rest.get(i).filter(|v| !v.starts_with("--")) {
                    if v.trim_start().starts_with('{') {
                        return Err(format!(
                            "--lora-modules {v}: only NAME=PATH is understood, not the JSON form"
                        ));
                    }
                    modules.push(v.clone());
                    i += 1;
                }
                if modules.is_empty() {
                    return Err("--lora-modules needs NAME=PATH values".into());
                }
                out.args
                    .push(format!("--lora-modules={}", modules.join(",")).into());
            }
            "host" | "port" | "max-model-len" | "max-num-seqs" | "max-loras" => {
                let v = value(&mut i)?;
                out.args.push(format!("--{name}={v}").into());
            }
            n if IGNORED_WITH_VALUE.contains(&n) => {
                let v = value(&mut i)?;
                out.ignored.push(format!("--{n}={v}"));
            }
            n if IGNORED_SWITCHES.contains(&n) => out.ignored.push(format!("--{n}")),
            _ => {
                // The mock's own flags (e.g. --model-load-ms) pass as written.
                out.args.push(arg.into());
            }
        }
    }
    if !served_name_given && let Some(m) = &out.model {
        // vLLM serves the model under its tag unless told otherwise.
        out.args.push(format!("--served-model-name={m}").into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn strings(v: &[OsString]) -> Vec<String> {
        v.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn lora_flags_translate() {
        let t = translate(&os(&[
            "serve",
            "base",
            "--enable-lora",
            "--max-loras",
            "4",
            "--lora-modules",
            "sql=/a/sql",
            "chat=/a/chat",
            "--max-lora-rank",
            "64",
        ]))
        .unwrap();
        assert_eq!(
            strings(&t.args),
            [
                "--max-loras=4",
                "--lora-modules=sql=/a/sql,chat=/a/chat",
                "--served-model-name=base"
            ]
        );
        assert_eq!(t.ignored, ["--enable-lora", "--max-lora-rank=64"]);
        let json = translate(&os(&["serve", "m", "--lora-modules", "{\"name\": \"x\"}"]));
        assert!(json.unwrap_err().contains("NAME=PATH"));
    }

    #[test]
    fn the_vllm_fixture_command_line_translates() {
        let t = translate(&os(&[
            "serve",
            "Qwen/Qwen2.5-0.5B-Instruct",
            "--host=0.0.0.0",
            "--port=8000",
            "--served-model-name=mock-llm",
            "--max-model-len=4096",
            "--gpu-memory-utilization=0.85",
            "--enforce-eager",
        ]))
        .expect("translates");
        assert_eq!(t.model.as_deref(), Some("Qwen/Qwen2.5-0.5B-Instruct"));
        assert_eq!(
            strings(&t.args),
            [
                "--host=0.0.0.0",
                "--port=8000",
                "--served-model-name=mock-llm",
                "--max-model-len=4096"
            ]
        );
        assert_eq!(
            t.ignored,
            ["--gpu-memory-utilization=0.85", "--enforce-eager"]
        );
    }

    #[test]
    fn separate_values_underscores_and_the_default_served_name() {
        let t = translate(&os(&[
            "serve",
            "--model",
            "facebook/opt-125m",
            "--max_num_batched_tokens",
            "1024",
            "--port",
            "9000",
        ]))
        .expect("translates");
        assert_eq!(
            strings(&t.args),
            ["--port=9000", "--served-model-name=facebook/opt-125m"]
        );
        assert_eq!(t.ignored, ["--max-num-batched-tokens=1024"]);
    }

    #[test]
    fn other_subcommands_and_missing_values_are_errors() {
        let e = translate(&os(&["bench", "latency"])).unwrap_err();
        assert!(e.contains("only `vllm serve"), "{e}");
        let e = translate(&os(&["serve", "m", "--dtype"])).unwrap_err();
        assert!(e.contains("--dtype needs a value"), "{e}");
        let e = translate(&os(&["serve", "m", "n"])).unwrap_err();
        assert!(e.contains("already \"m\""), "{e}");
    }

    #[test]
    fn recognises_vllm_invocations() {
        assert!(is_vllm_invocation("/usr/local/bin/vllm", &os(&["serve"])));
        assert!(is_vllm_invocation("/mock-server", &os(&["serve", "m"])));
        assert!(!is_vllm_invocation(
            "/mock-server",
            &os(&["--port", "8000"])
        ));
    }
}
