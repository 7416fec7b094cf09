//! Starting the AWS emulator (moto server, installed by `make` into the project's `.venv`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the project installs moto: `<workspace>/.venv/bin/moto_server`, unless
/// `GRANTDESK_MOTO_SERVER` names another.
pub fn moto_server_path() -> PathBuf {
    match std::env::var_os("GRANTDESK_MOTO_SERVER") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server"),
    }
}

/// A running emulator. It lives as long as the process that started it: the child is told to
/// stop when its parent dies, so no test run or dev session leaves one behind.
#[derive(Debug)]
pub struct Emulator {
    endpoint: String,
}

impl Emulator {
    /// The emulator's endpoint URL (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Starts moto server on `port` (0 picks a free one) and waits until it answers.
    pub fn start(port: u16) -> Result<Self, String> {
        let binary = moto_server_path();
        if !binary.exists() {
            return Err(format!(
                "the AWS emulator is not installed at {}; run `make venv` (or `make dev` / `make test`, which do it)",
                binary.display()
            ));
        }
        let port = if port == 0 { free_port()? } else { port };
        spawn_bound_to_process(binary, port)?;
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_until_listening(port, Duration::from_secs(60))?;
        Ok(Self { endpoint })
    }
}

/// A free loopback port, as the OS hands one out.
pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Spawns moto from a thread that lives as long as the process: Linux delivers the parent-death
/// signal when the *thread* that forked the child exits, so a short-lived thread (a test's own)
/// would take the emulator down with it.
fn spawn_bound_to_process(binary: PathBuf, port: u16) -> Result<(), String> {
    let (sent, received) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("moto-server".into())
        .spawn(move || {
            let mut command = Command::new(&binary);
            command
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            #[cfg(target_os = "linux")]
            {
                use std::os::unix::process::CommandExt;
                // SAFETY: prctl is async-signal-safe and touches only the child's own state.
                unsafe {
                    command.pre_exec(|| {
                        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            }
            match command.spawn() {
                Ok(mut child) => {
                    let _ = sent.send(Ok(()));
                    let _ = child.wait();
                }
                Err(e) => {
                    let _ = sent.send(Err(format!("starting {}: {e}", binary.display())));
                }
            }
        })
        .map_err(|e| format!("starting the emulator thread: {e}"))?;
    received
        .recv()
        .map_err(|_| "the emulator thread ended before starting moto".to_owned())?
}

fn wait_until_listening(port: u16, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "the AWS emulator did not start listening on port {port} within {}s",
        limit.as_secs()
    ))
}
