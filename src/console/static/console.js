// Draws the console's charts with uPlot from the console's own JSON data endpoints.
/* global fetch, uPlot, document */
'use strict';
(function () {
  function draw(el) {
    fetch(el.dataset.src, { credentials: 'same-origin' })
      .then(function (res) {
        if (!res.ok) throw new Error(el.dataset.src + ' answered ' + res.status);
        return res.json();
      })
      .then(function (d) {
        var width = Math.max(320, el.clientWidth - 16);
        var opts = {
          width: width,
          height: 220,
          scales: { x: { time: true } },
          series: [
            {},
            { label: 'requests / min', stroke: '#1f6feb', width: 1 },
            { label: 'billable calls / min', stroke: '#137333', width: 1 },
          ],
          axes: [{}, { size: 60 }],
        };
        el.textContent = '';
        new uPlot(opts, [d.minutes, d.requests, d.billable], el);
        el.setAttribute('data-drawn', String(d.minutes.length));
      })
      .catch(function (err) {
        el.textContent = 'Chart unavailable: ' + err.message;
        el.setAttribute('data-drawn', 'error');
      });
  }
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('.chart[data-src]').forEach(draw);
  });
})();
