//! Starting the local AWS emulators, both installed by `make` into project-local folders:
//! Amazon DynamoDB Local (DynamoDB and its stream, `.dynamodb-local/`) and moto server
//! (EventBridge, Scheduler and Secrets Manager, `.venv/`).

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

/// Where the project installs DynamoDB Local: `<workspace>/.dynamodb-local/`, unless
/// `GRANTDESK_DYNAMODB_LOCAL` names another folder holding `DynamoDBLocal.jar`.
pub fn dynamodb_local_path() -> PathBuf {
    match std::env::var_os("GRANTDESK_DYNAMODB_LOCAL") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.dynamodb-local"),
    }
}

/// The endpoints of the running emulators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// DynamoDB and DynamoDB Streams (DynamoDB Local).
    pub dynamodb: String,
    /// Every other AWS service the stack uses (moto server).
    pub aws: String,
}

/// The running emulators. They live as long as the process that started them: each child is
/// told to stop when its parent dies, so no test run or dev session leaves one behind.
#[derive(Debug)]
pub struct Emulator {
    endpoints: Endpoints,
    processes: Vec<(&'static str, u32)>,
}

impl Emulator {
    /// Where the emulators answer.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Starts DynamoDB Local and moto server on free ports and waits until both answer.
    pub fn start() -> Result<Self, String> {
        let (dynamodb, dynamodb_pid) = start_dynamodb_local()?;
        let (aws, moto_pid) = start_moto()?;
        Ok(Self {
            endpoints: Endpoints { dynamodb, aws },
            processes: vec![("DynamoDB Local", dynamodb_pid), ("moto server", moto_pid)],
        })
    }

    /// Each emulator's resident memory now, in MB (Linux; `None` where it cannot be read).
    pub fn resident_mb(&self) -> Vec<(&'static str, Option<f64>)> {
        self.processes
            .iter()
            .map(|(name, pid)| (*name, process_memory_mb(*pid, "VmRSS")))
            .collect()
    }
}

/// A memory figure of a process in MB, from `/proc/<pid>/status` (`VmRSS`: resident now,
/// `VmHWM`: peak resident).
pub fn process_memory_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn start_moto() -> Result<(String, u32), String> {
    let binary = moto_server_path();
    if !binary.exists() {
        return Err(format!(
            "moto server is not installed at {}; run `make emulators` (or `make dev` / `make test`, which do it)",
            binary.display()
        ));
    }
    let port = free_port()?;
    let mut command = Command::new(&binary);
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    let pid = spawn_bound_to_process(command, "moto server")?;
    wait_until_listening("moto server", port, Duration::from_secs(60))?;
    Ok((format!("http://127.0.0.1:{port}"), pid))
}

fn start_dynamodb_local() -> Result<(String, u32), String> {
    let home = dynamodb_local_path();
    let jar = home.join("DynamoDBLocal.jar");
    if !jar.exists() {
        return Err(format!(
            "DynamoDB Local is not installed at {}; run `make emulators` (or `make dev` / `make test`, which do it)",
            home.display()
        ));
    }
    let java = match std::env::var_os("JAVA_HOME") {
        Some(home) if PathBuf::from(&home).join("bin/java").exists() => PathBuf::from(home).join("bin/java"),
        _ => PathBuf::from("java"),
    };
    let port = free_port()?;
    let mut command = Command::new(&java);
    command
        .current_dir(&home)
        .arg(format!(
            "-Djava.library.path={}",
            home.join("DynamoDBLocal_lib").display()
        ))
        .args([
            "-jar",
            "DynamoDBLocal.jar",
            "-inMemory",
            "-sharedDb",
            "-port",
            &port.to_string(),
        ]);
    let pid = spawn_bound_to_process(command, "DynamoDB Local")
        .map_err(|e| format!("{e} (DynamoDB Local needs Java 17 or newer on PATH or in JAVA_HOME)"))?;
    wait_until_listening("DynamoDB Local", port, Duration::from_secs(60))?;
    Ok((format!("http://127.0.0.1:{port}"), pid))
}

/// A free loopback port, as the OS hands one out.
pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Spawns an emulator from a thread that lives as long as the process: Linux delivers the
/// parent-death signal when the *thread* that forked the child exits, so a short-lived thread
/// (a test's own) would take the emulator down with it.
fn spawn_bound_to_process(mut command: Command, name: &'static str) -> Result<u32, String> {
    let (sent, received) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
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
                    let _ = sent.send(Ok(child.id()));
                    let _ = child.wait();
                }
                Err(e) => {
                    let _ = sent.send(Err(format!("starting {name} ({:?}): {e}", command.get_program())));
                }
            }
        })
        .map_err(|e| format!("starting the {name} thread: {e}"))?;
    received
        .recv()
        .map_err(|_| format!("the {name} thread ended before starting it"))?
}

fn wait_until_listening(name: &str, port: u16, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "{name} did not start listening on port {port} within {}s",
        limit.as_secs()
    ))
}
