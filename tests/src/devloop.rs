//! The skaffold developer loop as a user runs it, for the cluster suite: a scratch
//! [`Workspace`] (a copy of this checkout committed to its own git repository, so that
//! the test can edit a service without touching the real sources, and skaffold's
//! `gitCommit` tagger has a commit), and [`Skaffold`], a running `skaffold dev` whose
//! output is kept and which is interrupted like Ctrl-C when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A copy of a checkout's tracked and untracked-but-not-ignored files, committed.
pub struct Workspace {
    /// Its root.
    pub root: PathBuf,
}

impl Workspace {
    /// Copies `checkout` (symlinks stay symlinks) into a scratch directory, adds `extra`
    /// files (path relative to both roots: generated, git-ignored inputs such as the dev
    /// secrets) and commits the lot.
    pub fn copy_of(checkout: &Path, extra: &[&str]) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let root =
            std::env::temp_dir().join(format!("learnflow-devloop-{}-{nanos}", std::process::id()));
        let listed = Command::new("git")
            .current_dir(checkout)
            .args([
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ])
            .output()
            .expect("git ls-files");
        assert!(
            listed.status.success(),
            "git ls-files in {}",
            checkout.display()
        );
        let files = listed
            .stdout
            .split(|b| *b == 0)
            .filter(|f| !f.is_empty())
            .map(|f| String::from_utf8_lossy(f).into_owned());
        for file in files.chain(extra.iter().map(|f| (*f).to_owned())) {
            let from = checkout.join(&file);
            let Ok(meta) = std::fs::symlink_metadata(&from) else {
                continue; // deleted in the working tree
            };
            let to = root.join(&file);
            std::fs::create_dir_all(to.parent().expect("parent")).expect("workspace dirs");
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&from).expect("read_link");
                std::os::unix::fs::symlink(target, &to).expect("symlink");
            } else {
                std::fs::copy(&from, &to).expect("copy");
            }
        }
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .current_dir(&root)
                .args([
                    "-c",
                    "user.name=devloop",
                    "-c",
                    "user.email=devloop@localhost",
                ])
                .args(args)
                .stdout(Stdio::null())
                .status()
                .expect("git");
            assert!(status.success(), "git {args:?} in the workspace");
        };
        git(&["init", "-q"]);
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "devloop workspace"]);
        Self { root }
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A running `skaffold dev`, its output in `log`.
pub struct Skaffold {
    child: Child,
    /// Where its standard output and error go.
    pub log: PathBuf,
}

impl Skaffold {
    /// Starts `cmd` (a prepared `skaffold dev …`) with its output in `log`.
    pub fn start(mut cmd: Command, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).expect("skaffold log");
        let err = out.try_clone().expect("skaffold log");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("skaffold starts");
        Self { child, log }
    }

    /// Its output so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until its output contains `text` after byte `from`; panics with the output's
    /// tail when it exits first or `timeout` passes.
    pub fn wait_for(&mut self, text: &str, from: usize, timeout: Duration) {
        let started = Instant::now();
        loop {
            let output = self.output();
            if output.get(from..).is_some_and(|o| o.contains(text)) {
                return;
            }
            let exited = self.child.try_wait().expect("try_wait");
            if exited.is_some() || started.elapsed() > timeout {
                let tail: Vec<&str> = output.lines().rev().take(40).collect();
                panic!(
                    "skaffold dev: no {text:?} after {:.0} s ({}); last lines:\n{}",
                    started.elapsed().as_secs_f64(),
                    exited.map_or("still running".into(), |s| s.to_string()),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Interrupts it like Ctrl-C and waits for it to exit (killed after `grace`).
    pub fn interrupt(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        let _ = kill(pid, Signal::SIGINT);
        let started = Instant::now();
        while started.elapsed() < grace {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Skaffold {
    fn drop(&mut self) {
        self.interrupt(Duration::from_secs(30));
    }
}
