//! `cargo bench --bench tui`: how long the console takes to draw one frame
//! of a 200-service mesh, per view (the render loop never waits on the
//! network, so this is the whole cost of a frame). Budget (DESIGN.md): under
//! 5 ms.

use std::time::Instant;

use meshcon::tui::action::{Action, View};
use meshcon::tui::app::update;
use meshcon::tui::fixtures::big_app;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const FRAMES: usize = 300;

fn main() -> anyhow::Result<()> {
    println!(
        "{:<12} {:>10} {:>10} {:>10}",
        "VIEW", "P50 ms", "P99 ms", "MAX ms"
    );
    for view in View::ALL {
        let mut app = big_app(200);
        update(&mut app, Action::Show(view));
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
            "{:<12} {:>10.3} {:>10.3} {:>10.3}",
            format!("{view:?}"),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    Ok(())
}
