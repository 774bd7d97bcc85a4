//! `starq`: the command line. It parses arguments and hands over to the crates that do the
//! work; it holds no logic of its own.

#![forbid(unsafe_code)]

use std::time::Duration;

use clap::{Parser, Subcommand};

/// A distributed call-center queue for Asterisk.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a demonstration call center and print what happened.
    ///
    /// Today this drives the routing core and the embedded store through a seeded, simulated
    /// day of traffic. The full demo over real ARI against simulated Asterisk nodes arrives
    /// with the engine (see the README).
    Demo {
        /// Seed of the simulated world.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Agents.
        #[arg(long, default_value_t = 8)]
        agents: usize,
        /// Simulated minutes of traffic.
        #[arg(long, default_value_t = 60)]
        minutes: u64,
        /// Mean seconds between callers.
        #[arg(long, default_value_t = 4)]
        every: u64,
    },
    /// Run simulated Asterisk nodes speaking ARI (for development and load tests).
    Sim(starq_sim::cli::SimArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Demo { seed, agents, minutes, every } => {
            let params = starq_dst::world::Params {
                seed,
                queues: 2,
                agents,
                busy: Duration::from_secs(minutes * 60),
                arrival_mean: Duration::from_secs(every),
            };
            println!(
                "starq demo: core simulation, seed {seed}, {agents} agents, {minutes} simulated minutes"
            );
            let summary = starq_dst::world::World::new(params).run();
            println!("callers arrived   {:>8}", summary.arrived);
            println!("connected         {:>8}", summary.connected);
            for (status, n) in &summary.outcomes {
                println!("  {status:<15} {n:>8}");
            }
            println!("simulation steps  {:>8} (invariants checked after each)", summary.steps);
            Ok(())
        }
        Cmd::Sim(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(starq_sim::cli::run(args, async {
                let _ = tokio::signal::ctrl_c().await;
            }))
        }
    }
}
