//! A private `redis-server` for one test on an ephemeral port (never the shared one on 6379),
//! killed when dropped. The store crate's test harness, cut down to what the reporter needs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use starq_store::{RedisOptions, RedisStore};

/// A `redis-server` process owned by the test.
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts a server without persistence.
    pub fn start() -> Self {
        let port =
            TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let binary = std::env::var("STARQ_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        let server = RedisServer { child, port };
        for _ in 0..500 {
            if server.ping() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {port} did not come up");
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// A store on `site` of this server.
    pub async fn store(&self, site: &str) -> RedisStore {
        let url = format!("redis://127.0.0.1:{}/", self.port);
        RedisStore::connect(RedisOptions::new(url, site)).await.expect("connect to redis")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
