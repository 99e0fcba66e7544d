// Used by check_notebooks_in_browser.sh: opens each notebook in JupyterLab through Chromium's DevTools protocol,
// waits until its kernel is idle and 8 s more, and reports JupyterLab's dirty marks (class jp-mod-dirty).
const http = require('http');
const nbs = process.argv.slice(2);
function getJSON(url){return new Promise((res,rej)=>http.get(url,r=>{let d='';r.on('data',c=>d+=c);r.on('end',()=>res(JSON.parse(d)));}).on('error',rej));}
const sleep = ms => new Promise(r=>setTimeout(r,ms));
(async()=>{
  const targets = await getJSON('http://127.0.0.1:9333/json');
  const page = targets.find(t=>t.type==='page');
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  let id=0; const pending={};
  ws.onmessage = ev => { const m=JSON.parse(ev.data); if(m.id&&pending[m.id]){pending[m.id](m); delete pending[m.id];} };
  await new Promise(r=>ws.onopen=r);
  const send=(method,params={})=>new Promise(r=>{const i=++id; pending[i]=r; ws.send(JSON.stringify({id:i,method,params}));});
  const evaluate = async expr => (await send('Runtime.evaluate',{expression:expr,returnByValue:true})).result.result.value;
  let failed = false;
  for (const nb of nbs) {
    await send('Page.navigate',{url:`http://127.0.0.1:8899/lab/tree/${nb}?reset`});
    let status='';
    for (let t=0;t<40;t++){ await sleep(1000);
      status = await evaluate(`Array.from(document.querySelectorAll('[title*="Kernel status"], .jp-Notebook-ExecutionIndicator')).map(e=>e.title||e.textContent).join(';')`);
      if (/Idle/i.test(status)) break; }
    await sleep(8000);  // the change appeared a few seconds after opening
    const marks = await evaluate(`document.querySelectorAll('.jp-mod-dirty').length`);
    const idle = /Idle/i.test(status);
    if (marks > 0) failed = true;
    console.log(`${nb}: kernel ${idle ? 'idle' : 'not idle after 40 s'}, ${marks > 0 ? 'MODIFIED without any edit' : 'unmodified'}`);
    await send('Page.navigate',{url:'about:blank'}); await sleep(1000);
  }
  process.exit(failed ? 1 : 0);
})();
