//! `cargo bench --bench tui`: how long the console takes to draw one frame
//! of a 200- and a 1000-service mesh, per view (the render loop never waits
//! on the network, so this is the whole cost of a frame). Budget
//! (DESIGN.md): under 5 ms with 1000 services.

use std::time::Instant;

use meshcon::tui::action::{Action, View};
use meshcon::tui::app::update;
use meshcon::tui::fixtures::big_app;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const FRAMES: usize = 300;

fn main() -> anyhow::Result<()> {
    println!(
        "{:>8} {:<12} {:>10} {:>10} {:>10}",
        "SERVICES", "VIEW", "P50 ms", "P99 ms", "MAX ms"
    );
    for services in [200, 1000] {
        frames(services)?;
    }
    Ok(())
}

/// Times every view and mode with `services` services.
fn frames(services: usize) -> anyhow::Result<()> {
    // Every view, then the Graph's map and the Services by route.
    let extra = [
        ("Map", View::Graph, Action::ToggleMap),
        ("Routes", View::Services, Action::ToggleRoutes),
    ];
    let plain = View::ALL.iter().map(|v| (format!("{v:?}"), *v, None));
    let modes = extra
        .into_iter()
        .map(|(name, v, a)| (name.to_string(), v, Some(a)));
    for (name, view, mode) in plain.chain(modes) {
        let mut app = big_app(services);
        update(&mut app, Action::Show(view));
        if let Some(a) = mode {
            update(&mut app, a);
        }
        let mut terminal = Terminal::new(TestBackend::new(160, 48))?;
        let mut times = Vec::with_capacity(FRAMES);
        for _ in 0..FRAMES {
            let t = Instant::now();
            terminal.draw(|f| meshcon::tui::ui::draw(f, &app))?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        println!(
            "{:>8} {:<12} {:>10.3} {:>10.3} {:>10.3}",
            services,
            name,
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    Ok(())
}
