(function () {
  'use strict';
  var body = document.body;

  // Expand or collapse every section.
  document.querySelectorAll('[data-toggle-all]').forEach(function (button) {
    button.addEventListener('click', function () {
      var open = button.getAttribute('data-toggle-all') === 'open';
      document.querySelectorAll('details').forEach(function (d) { d.open = open; });
    });
  });

  // A link to something inside closed sections opens them.
  function openTarget() {
    var el = location.hash.length > 1 && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    for (; el; el = el.parentElement) {
      if (el.tagName === 'DETAILS') { el.open = true; }
    }
  }
  window.addEventListener('hashchange', openTarget);
  openTarget();

  // One cursor across all charts of a scenario: they share one time axis
  // and one layout, so an x coordinate is the same instant in each.
  function offsetLabel(svg, x) {
    var plot = svg.getAttribute('data-plot').split(' ').map(Number);
    var secs = Math.round((x - plot[0]) / (plot[1] - plot[0]) * Number(svg.getAttribute('data-span')));
    var m = Math.floor(secs / 60), s = secs % 60;
    return m > 0 ? m + 'm' + (s < 10 ? '0' : '') + s + 's' : s + 's';
  }
  function chartsBeside(svg) {
    var section = svg.closest('section');
    return section ? section.querySelectorAll('svg.chart') : [svg];
  }
  function track(svg, event) {
    var ctm = svg.getScreenCTM();
    if (!ctm) { return; }
    var point = svg.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    var x = point.matrixTransform(ctm.inverse()).x;
    var plot = svg.getAttribute('data-plot').split(' ').map(Number);
    var inside = x >= plot[0] && x <= plot[1];
    var label = inside ? offsetLabel(svg, x) : '';
    chartsBeside(svg).forEach(function (chart) {
      chart.classList.toggle('tracking', inside);
      var cursor = chart.querySelector('.cursor');
      var text = chart.querySelector('.cursor-label');
      cursor.setAttribute('x1', x);
      cursor.setAttribute('x2', x);
      var nearRightEdge = x > plot[1] - 60;
      text.setAttribute('x', nearRightEdge ? x - 4 : x + 4);
      text.setAttribute('text-anchor', nearRightEdge ? 'end' : 'start');
      text.textContent = label;
    });
  }
  var charts = document.querySelectorAll('svg.chart');
  charts.forEach(function (svg) {
    svg.addEventListener('mousemove', function (event) { track(svg, event); });
    svg.addEventListener('mouseleave', function () {
      chartsBeside(svg).forEach(function (chart) { chart.classList.remove('tracking'); });
    });
  });

  // What a test (or a curious reader) can check: every chart drew something.
  var plotted = 0;
  charts.forEach(function (svg) {
    if (svg.querySelector('path.series, rect.span, circle.mark')) { plotted += 1; }
  });
  body.setAttribute('data-charts', String(charts.length));
  body.setAttribute('data-charts-plotted', String(plotted));
  body.setAttribute('data-rendered', 'ok');
}());
