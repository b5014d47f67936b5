"""The inline style sheet of ``calsync report``'s page (no fonts or files to fetch)."""

CSS = """
:root{--ink:#1d232a;--muted:#5b6570;--line:#d5dbe1;--bg:#fff;--card:#f6f8fa;
--held:#0b6e6e;--cancelled:#b3261e;--declined:#a15c00;--removed:#6b4fa0;--planned:#5b6570;
--ok:#1e7a3c;--warn:#b3261e;--lapse:#6d4c00;--na:#5b6570;
-webkit-print-color-adjust:exact;print-color-adjust:exact}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Hiragino Sans","Noto Sans CJK JP",sans-serif}
header,main{max-width:1180px;margin:0 auto;padding:0 20px}
header{padding-top:18px}
h1{font-size:26px;margin:0}
h2{font-size:19px;margin:26px 0 10px}
h3{font-size:15px;margin:0 0 8px}
.gen{color:var(--muted);margin:2px 0 0}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{flex:1 1 300px;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card ul{list-style:none;margin:0;padding:0}
.labels{display:flex;flex-wrap:wrap;gap:8px 18px}
.labels .n{font-size:20px;vertical-align:middle;margin-left:4px}
.buckets li{display:flex;align-items:center;gap:8px;margin:3px 0}
.bk{flex:0 0 8.5em}
.meter{flex:1 1 auto;height:10px;background:#e5e9ed;border-radius:5px;overflow:hidden}
.meter span{display:block;height:100%;background:var(--held)}
.buckets .n{flex:0 0 2em;text-align:right}
.policy{color:var(--muted);margin:12px 0}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;font-weight:600;
border:1.5px solid currentColor;white-space:nowrap}
.badge::before{margin-right:4px}
.badge.l-healthy{color:var(--ok)}.badge.l-healthy::before{content:"✓"}
.badge.l-drifting{color:var(--warn);background:#fbeae8}.badge.l-drifting::before{content:"▲"}
.badge.l-lapsed{color:var(--lapse);background:#f6eddc}.badge.l-lapsed::before{content:"■"}
.badge.l-insufficient-data{color:var(--na);border-style:dashed}.badge.l-insufficient-data::before{content:"?"}
table{border-collapse:collapse;width:100%}
caption{text-align:left;font-weight:600;margin-bottom:6px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:13px;color:var(--muted);font-weight:600}
.summary a{color:inherit}
.legend{list-style:none;display:flex;flex-wrap:wrap;gap:4px 16px;padding:0;margin:0 0 10px;
color:var(--muted);font-size:13px}
.ic{vertical-align:-1px}
.k-held{color:var(--held)}.k-cancelled{color:var(--cancelled)}.k-declined{color:var(--declined)}
.k-removed{color:var(--removed)}.k-planned{color:var(--planned)}
.rel{display:grid;grid-template-columns:300px minmax(0,1fr);gap:8px 24px;padding:16px 0;
border-top:1px solid var(--line);break-inside:avoid}
.rel.l-drifting,.rel.l-lapsed{border-left:4px solid var(--warn);padding-left:12px}
.rel.l-lapsed{border-left-color:var(--lapse)}
.addr{display:block;font-weight:400;color:var(--muted);font-size:13px;overflow-wrap:anywhere}
.meta{margin:0 0 6px}.role{color:var(--muted);font-size:13px}
.reasons{margin:4px 0 8px;padding-left:18px;color:var(--warn);font-weight:600}
dl{margin:0;font-size:14px}dl div{display:flex;gap:8px;margin:2px 0}
dt{flex:0 0 7.5em;color:var(--muted)}dd{margin:0;min-width:0;overflow-wrap:anywhere}
.charts{min-width:0;padding:0 8px}
.chart{position:relative;margin-bottom:6px}
.flags{position:relative;height:16px;font-size:11px;color:var(--muted)}
.flag{position:absolute;top:0;white-space:nowrap;padding-left:3px;border-left:1px solid var(--muted)}
.nowflag{transform:translateX(-100%);padding:0 3px 0 0;border-left:0;border-right:1px solid var(--ink);
color:var(--ink)}
.track{position:relative;height:22px}
.track .bg{position:absolute;inset:0;width:100%;height:100%}
.ax{stroke:#9aa5b1;stroke-width:1}.tk{stroke:#9aa5b1;stroke-width:1}
.win{fill:#e6f2f2}.winedge{stroke:var(--held);stroke-width:1;stroke-dasharray:3 2}
.nowline{stroke:var(--ink);stroke-width:1.5}
.mk{position:absolute;top:5px;margin-left:-6px}
.ticks{position:relative;height:15px;font-size:11px;color:var(--muted)}
.ticks span{position:absolute;top:0;white-space:nowrap;padding-left:2px}
.bars .cap{font-size:12px;color:var(--muted)}
.plot{position:relative;height:46px;border-bottom:1px solid #9aa5b1}
.plot svg{position:absolute;inset:0;width:100%;height:100%}
.band{fill:#e9f3ec}.limit{stroke:var(--ok);stroke-width:1.2;stroke-dasharray:4 3}
.bar{fill:var(--held)}.bar.over{stroke:var(--warn);stroke-width:0.6}
.lim{position:absolute;right:0;font-size:11px;color:var(--ok);background:rgba(255,255,255,.8);
padding:0 2px;line-height:1.1}
details{margin-top:6px;font-size:13px}summary{cursor:pointer;color:var(--muted)}
.meetings td.num{text-align:right}
.notes li{color:var(--warn)}
.empty{color:var(--muted)}
@media (max-width:760px){
 header,main{padding:0 12px}header{padding-top:12px}
 .rel{grid-template-columns:minmax(0,1fr)}
 .charts{padding:0 6px}
 .mk{width:10px;height:10px;top:6px;margin-left:-5px}
}
@media screen and (max-width:760px){
 .summary caption{display:block}
 .summary thead{display:none}
 .summary,.summary tbody,.summary tr,.summary th,.summary td{display:block;width:100%}
 .summary tr{border-bottom:1px solid var(--line);padding:6px 0}
 .summary th,.summary td{border:0;padding:1px 0;display:flex;gap:8px}
 .summary td::before{content:attr(data-col);flex:0 0 8.5em;color:var(--muted);font-size:13px}
}
@media print{
 body{font-size:11pt}header,main{max-width:none;padding:0}
 details>summary{display:none}
 .rel{grid-template-columns:240px minmax(0,1fr)}
 a{text-decoration:none}
}
""".strip()
