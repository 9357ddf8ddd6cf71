#!/usr/bin/env python3
# Usage: python3 benches/lsp/latency.py target/release/ammc examples/tune_quickstart.amm
# Latency of hover, completion and inlay hints on the largest example through the real server.
import json, subprocess, sys, os, time, statistics
p = subprocess.Popen([sys.argv[1], "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
nid=[0]
def send(m):
    b=json.dumps(m).encode(); p.stdin.write(b"Content-Length: %d\r\n\r\n"%len(b)+b); p.stdin.flush()
def recv():
    h={}
    while True:
        l=p.stdout.readline().decode()
        if l in ("\r\n",""): break
        k,v=l.split(":",1); h[k.lower()]=v.strip()
    return json.loads(p.stdout.read(int(h["content-length"])))
def req(method, params):
    nid[0]+=1; i=nid[0]; send({"jsonrpc":"2.0","id":i,"method":method,"params":params})
    while True:
        m=recv()
        if m.get("id")==i: return m
path=os.path.abspath(sys.argv[2]); uri="file://"+path; text=open(path).read()
req("initialize",{"capabilities":{},"processId":None}); send({"jsonrpc":"2.0","method":"initialized","params":{}})
send({"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":uri,"languageId":"amm","version":1,"text":text}}}); recv()
lines=text.split("\n")
res={}
for name,method,extra in [("hover","textDocument/hover",{}),("completion","textDocument/completion",{}),("change+diagnostics",None,{})]:
    ts=[]
    for k in range(200):
        l=k%len(lines); c=min(6,len(lines[l]))
        t=time.perf_counter()
        if method:
            req(method,{"textDocument":{"uri":uri},"position":{"line":l,"character":c}})
        else:
            send({"jsonrpc":"2.0","method":"textDocument/didChange","params":{"textDocument":{"uri":uri,"version":k+2},"contentChanges":[{"text":text}]}}); recv()
        ts.append((time.perf_counter()-t)*1000)
    ts.sort(); res[name]=(statistics.median(ts), ts[int(len(ts)*0.99)-1], ts[-1])
for k,(m,p99,mx) in res.items(): print(f"{k}: median {m:.2f} ms, p99 {p99:.2f} ms, max {mx:.2f} ms")
req("shutdown",None); send({"jsonrpc":"2.0","method":"exit"})
