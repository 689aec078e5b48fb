// Draws the console's charts with Chart.js (vendored). Each <canvas data-chart="ID"> reads its
// points from the <script type="application/json" id="ID"> block the server rendered beside it
// (Django's json_script): no inline script, as the console's Content-Security-Policy demands.
// The same points are in the chart's data table for screen readers.
(function () {
  "use strict";

  var COLOURS = ["#417690", "#ba2121", "#2e7d32", "#a86b00", "#6a3d9a", "#00838f", "#ad1457", "#5d4037",
    "#1565c0", "#827717", "#4e342e", "#37474f"];

  function timeLabel(ms) {
    var when = new Date(ms);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(when.getUTCHours()) + ":" + pad(when.getUTCMinutes());
  }

  // Ticks on whole minutes an operator reads at a glance (every 30 minutes over 3 hours...).
  var STEPS = [1, 5, 10, 15, 30, 60, 120, 180, 360, 720].map(function (m) { return m * 60000; });

  function tickStep(config) {
    var xs = config.window ? config.window.slice() : [];
    config.series.forEach(function (s) { s.points.forEach(function (p) { xs.push(p[0]); }); });
    if (xs.length < 2) {
      return undefined;
    }
    var span = Math.max.apply(null, xs) - Math.min.apply(null, xs);
    for (var i = 0; i < STEPS.length; i++) {
      if (span / STEPS[i] <= 8) {
        return STEPS[i];
      }
    }
    return STEPS[STEPS.length - 1];
  }

  function datasets(config) {
    return config.series.map(function (series, index) {
      var colour = series.dashed ? "#555" : COLOURS[index % COLOURS.length];
      return {
        label: series.label,
        data: series.points.map(function (point) { return { x: point[0], y: point[1] }; }),
        type: series.dashed ? "line" : undefined,
        borderColor: colour,
        backgroundColor: colour,
        borderDash: series.dashed ? [6, 4] : [],
        stepped: series.stepped ? "before" : false,
        pointRadius: series.dashed ? 0 : 2,
        borderWidth: 2,
      };
    });
  }

  function draw(canvas) {
    if (canvas.dataset.drawn || typeof window.Chart === "undefined") {
      return;
    }
    var block = document.getElementById(canvas.dataset.chart);
    if (!block) {
      return;
    }
    var config = JSON.parse(block.textContent);
    var yLabels = config.yLabels || {};
    var hasLabels = Object.keys(yLabels).length > 0;
    canvas.dataset.drawn = "1";
    new window.Chart(canvas, {
      type: config.kind === "bar" ? "bar" : "line",
      data: { datasets: datasets(config) },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: true,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: {
            type: "linear",
            min: config.window ? config.window[0] : undefined,
            max: config.window ? config.window[1] : undefined,
            ticks: { callback: timeLabel },
            // Ticks on multiples of the step (14:00, 14:30...), not counted from the window's start.
            afterBuildTicks: function (scale) {
              var step = tickStep(config);
              if (!step) {
                return;
              }
              var ticks = [];
              for (var value = Math.ceil(scale.min / step) * step; value <= scale.max; value += step) {
                ticks.push({ value: value });
              }
              scale.ticks = ticks;
            },
            title: { display: true, text: "UTC" },
          },
          y: {
            beginAtZero: true,
            suggestedMax: hasLabels ? 2 : undefined,
            ticks: hasLabels
              ? { stepSize: 1, callback: function (value) { return yLabels[String(value)] || ""; } }
              : { precision: 0 },
            title: { display: Boolean(config.unit) && !hasLabels, text: config.unit },
          },
        },
        plugins: {
          legend: { display: config.series.length > 1, position: "bottom", labels: { boxWidth: 12 } },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? timeLabel(items[0].parsed.x) + " UTC" : ""; },
              label: function (item) {
                var value = hasLabels ? (yLabels[String(item.parsed.y)] || item.parsed.y) : item.parsed.y;
                return item.dataset.label + ": " + value;
              },
            },
          },
        },
      },
    });
  }

  function drawAll(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("canvas[data-chart]"), draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  // Content swapped in by htmx (live pages) may bring charts of its own.
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();
