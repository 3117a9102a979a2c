//! `chart.svg`: accuracy by education stage (else by the first grouping column), with the
//! overall bar last, drawn with plotters' SVG backend.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{EvalError, Result};
use crate::summary::Summary;

/// The bars: (label, accuracy in %, correct, total).
pub fn bars(summary: &Summary) -> (String, Vec<(String, f64, usize, usize)>) {
    let column = summary
        .stage_column
        .clone()
        .or_else(|| summary.by.keys().next().cloned());
    let mut bars = Vec::new();
    if let Some(c) = &column {
        for v in summary.values(c) {
            let t = summary.by[c][&v];
            bars.push((v, t.accuracy * 100.0, t.correct, t.total));
        }
    }
    let o = summary.overall;
    bars.push(("all".to_string(), o.accuracy * 100.0, o.correct, o.total));
    (column.unwrap_or_else(|| "overall".into()), bars)
}

pub fn write(summary: &Summary, path: &Path) -> Result<()> {
    let (column, bars) = bars(summary);
    let width = (160 + 110 * bars.len() as u32).clamp(480, 1600);
    let fail = |e: &dyn std::fmt::Display| EvalError::write(path, e);
    {
        let root = SVGBackend::new(path, (width, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Accuracy by {column} — {}", summary.run.model),
                ("sans-serif", 18),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d((0..bars.len() as i32 - 1).into_segmented(), 0f64..100f64)
            .map_err(|e| fail(&e))?;
        let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(229, 231, 235))
            .y_labels(11)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("accuracy (%)")
            .x_labels(bars.len())
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(|e| fail(&e))?;
        let last = bars.len() as i32 - 1;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let color = if i as i32 == last {
                    RGBColor(37, 99, 235)
                } else {
                    RGBColor(22, 163, 74)
                };
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i as i32), 0.0),
                        (SegmentValue::Exact(i as i32 + 1), b.1),
                    ],
                    color.filled(),
                );
                bar.set_margin(0, 0, 12, 12);
                bar
            }))
            .map_err(|e| fail(&e))?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                Text::new(
                    format!("{:.1}% ({}/{})", b.1, b.2, b.3),
                    (SegmentValue::CenterOf(i as i32), (b.1 + 7.0).min(98.0)),
                    ("sans-serif", 13)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )
            }))
            .map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    Ok(())
}
