//! Every `pgconverge ...` command shown in a fenced shell block of README.md and docs/*.md parses with the current
//! CLI, so the operator documents cannot name a command or flag that does not exist; and the operator documents
//! the runbook promises exist.

use clap::Parser;
use pgconverge::cli::Cli;

/// Splits a shell line into words: whitespace separated, single and double quotes grouping, `#` comments.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                started = true;
            }
            None if c == '#' && !started => break,
            None if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            None => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

/// The `pgconverge` command lines of the fenced `sh` blocks of one Markdown text.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            // An opening fence says its language; a closing one ends any block.
            inside = !inside && (t == "```sh" || t == "```bash");
            continue;
        }
        if !inside {
            continue;
        }
        if let Some(cont) = t.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        let full = std::mem::take(&mut pending) + t;
        if full.starts_with("pgconverge ") {
            out.push(full);
        }
    }
    out
}

#[test]
fn every_documented_command_parses() {
    std::env::set_var("PGCONVERGE_SOURCE", "mysql://u:p@localhost:3306/db");
    std::env::set_var("PGCONVERGE_TARGET", "postgres://u:p@localhost:5432/db");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir("docs")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.push("README.md".into());
    let mut checked = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for cmd in commands(&text) {
            if let Err(e) = Cli::try_parse_from(words(&cmd)) {
                panic!("{}: `{cmd}` does not parse:\n{e}", f.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} documented commands found");
}

#[test]
fn the_operator_documents_exist() {
    for doc in [
        "docs/DataManagement.md",
        "docs/Running.md",
        "docs/QA.md",
        "docs/verification-checklist.md",
    ] {
        let text = std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        assert!(text.len() > 1000, "{doc} is a stub");
    }
}

#[test]
fn the_splitter_and_a_wrong_flag() {
    assert_eq!(
        words("pgconverge verify --mapping 'a b.toml'  # comment"),
        ["pgconverge", "verify", "--mapping", "a b.toml"]
    );
    std::env::set_var("PGCONVERGE_SOURCE", "mysql://u:p@localhost:3306/db");
    std::env::set_var("PGCONVERGE_TARGET", "postgres://u:p@localhost:5432/db");
    assert!(
        Cli::try_parse_from(words("pgconverge migrate --mapping m.toml --no-such-flag")).is_err()
    );
    assert!(Cli::try_parse_from(words("pgconverge migrate --mapping m.toml --no-verify")).is_ok());
}

/// The README's exit-code table, `--help` and `exit::Exit` list the same codes.
#[test]
fn the_exit_codes_are_one_table() {
    use pgconverge::exit::Exit;
    let readme = std::fs::read_to_string("README.md").unwrap();
    let table: Vec<u8> = readme
        .lines()
        .skip_while(|l| !l.starts_with("## Exit codes"))
        .filter_map(|l| l.strip_prefix("| ")?.split(' ').next()?.parse().ok())
        .collect();
    let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(table, codes, "README's exit-code table");
    let help = Cli::command_with_exit_codes()
        .render_long_help()
        .to_string();
    for e in Exit::ALL {
        assert!(
            help.contains(&format!("{:>3}  {}", e.code(), e.meaning())),
            "--help lacks exit code {}",
            e.code()
        );
    }
}

/// Every `--flag` named anywhere in README.md and docs/*.md (prose and tables too) is a flag of pgconverge, or of
/// one of the other tools the documents show (the test bed's generator, the bench script, cargo, perf, the MySQL
/// client), so a renamed or misspelt flag cannot survive in a runbook.
#[test]
fn every_flag_the_documents_name_exists() {
    const OTHER_TOOLS: &[&str] = &[
        "app",
        "call-graph",
        "create",
        "get-server-public-key",
        "graph",
        "mysql",
        "no-peers",
        "release",
        "scale",
        "seed",
        "skip-gen",
    ];
    let cmd = Cli::command_with_exit_codes();
    let mut ours: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect();
    for sub in cmd.get_subcommands() {
        ours.extend(
            sub.get_arguments()
                .filter_map(|a| a.get_long().map(str::to_string)),
        );
    }
    ours.extend(["help".to_string(), "version".to_string()]);
    let mut docs = vec!["README.md".to_string()];
    for e in std::fs::read_dir("docs").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p.to_string_lossy().into_owned());
        }
    }
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        let b = text.as_bytes();
        for (i, _) in text.match_indices("--") {
            if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-') {
                continue;
            }
            let flag: String = text[i + 2..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                .collect();
            if flag.is_empty() || !flag.as_bytes()[0].is_ascii_lowercase() {
                continue;
            }
            assert!(
                ours.contains(&flag) || OTHER_TOOLS.contains(&flag.as_str()),
                "{doc} names --{flag}, which no pgconverge command has"
            );
        }
    }
}

/// Every `--flag` in an inline code span that names a command (`migrate --resume`, `pgconverge export --resume
/// --out DIR`) is a flag of that command (or a global one): a flag moved to another command cannot survive in prose.
#[test]
fn every_flag_named_with_a_command_is_that_commands() {
    let cmd = Cli::command_with_exit_codes();
    let global: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .chain(["help".to_string(), "version".to_string()])
        .collect();
    let mut docs = vec!["README.md".to_string()];
    for e in std::fs::read_dir("docs").unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p.to_string_lossy().into_owned());
        }
    }
    let mut checked = 0;
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        // Inline spans only: fenced blocks are parsed whole by `every_documented_command_parses`.
        let prose: String = text
            .split("```")
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join("\n");
        for span in prose.split('`').skip(1).step_by(2) {
            let words: Vec<&str> = span.split_whitespace().collect();
            let Some(at) = words
                .iter()
                .position(|w| cmd.get_subcommands().any(|s| s.get_name() == *w))
            else {
                continue;
            };
            // `pgconverge <command>` or a span that starts with the command: not a word that only looks like one.
            if at > 0 && words[at - 1] != "pgconverge" {
                continue;
            }
            let sub = cmd
                .get_subcommands()
                .find(|s| s.get_name() == words[at])
                .unwrap();
            let own: Vec<String> = sub
                .get_arguments()
                .filter_map(|a| a.get_long().map(str::to_string))
                .collect();
            for w in &words[at + 1..] {
                let Some(flag) = w.strip_prefix("--") else {
                    continue;
                };
                let flag: String = flag
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                    .collect();
                checked += 1;
                assert!(
                    own.contains(&flag) || global.contains(&flag),
                    "{doc}: `{span}` names --{flag}, which `{}` does not have",
                    words[at]
                );
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} flags named with a command: the scan is broken"
    );
}
