//! A tokio TCP server that hands CPU-bound requests to an mp `Pool` and streams the results
//! back as the workers finish them (`imap` as a `Stream`), under every start method.
//!
//! Each request line is `primes LO HI`: the server splits the range into parts, counts the
//! primes of each part in a worker process, writes a `part` line as each part comes back (in
//! order), then the total. The tokio threads never block: the parts are awaited, not waited
//! for. Three clients ask at once.

use std::sync::Arc;

use mp::{Pool, StartMethod};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[mp::task]
fn count_primes(range: (u64, u64)) -> u64 {
    count_primes_here(range.0, range.1)
}

fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

const PARTS: u64 = 8;

/// Serves one client: one answer per request line.
async fn serve(stream: TcpStream, pool: Arc<Pool>) -> mp::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (lo, hi) = match words.as_slice() {
            ["primes", lo, hi] => match (lo.parse::<u64>(), hi.parse::<u64>()) {
                (Ok(lo), Ok(hi)) if lo <= hi => (lo, hi),
                _ => {
                    write.write_all(b"error: bad range\n").await?;
                    continue;
                }
            },
            _ => {
                write.write_all(b"error: expected `primes LO HI`\n").await?;
                continue;
            }
        };
        let step = (hi - lo).div_ceil(PARTS).max(1);
        let parts: Vec<(u64, u64)> = (lo..hi)
            .step_by(step as usize)
            .map(|a| (a, (a + step).min(hi)))
            .collect();
        let mut results = pool.imap(count_primes, parts.clone())?;
        let mut total = 0;
        for (a, b) in parts {
            let n = next(&mut results).await.expect("one result per part")?;
            total += n;
            write
                .write_all(format!("part {a}..{b}: {n}\n").as_bytes())
                .await?;
        }
        write
            .write_all(format!("total primes in {lo}..{hi}: {total}\n").as_bytes())
            .await?;
    }
    Ok(())
}

/// The next item of a stream (what `StreamExt::next` does, without the extra crate).
async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

/// A client: sends its request, reads the answer until the total.
async fn ask(addr: std::net::SocketAddr, lo: u64, hi: u64) -> mp::Result<(Vec<String>, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(format!("primes {lo} {hi}\n").as_bytes())
        .await?;
    let mut lines = BufReader::new(stream).lines();
    let mut parts = Vec::new();
    while let Some(line) = lines.next_line().await? {
        if line.starts_with("total") {
            return Ok((parts, line));
        }
        parts.push(line);
    }
    Err(mp::Error::from(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the server closed the connection early",
    )))
}

async fn run(method: StartMethod) -> mp::Result<()> {
    let pool = Arc::new(Pool::builder().processes(2).start_method(method).build()?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server_pool = Arc::clone(&pool);
    let server = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await?;
            let pool = Arc::clone(&server_pool);
            tokio::spawn(async move {
                if let Err(e) = serve(stream, pool).await {
                    eprintln!("client error: {e}");
                }
            });
        }
        #[allow(unreachable_code)]
        Ok::<(), mp::Error>(())
    });

    let asks = [(0, 100_000), (100_000, 200_000), (0, 1_000)];
    let answers = futures_join(asks.map(|(lo, hi)| tokio::spawn(ask(addr, lo, hi)))).await;
    for ((lo, hi), answer) in asks.into_iter().zip(answers) {
        let (parts, total) = answer.expect("client task")?;
        println!("{method}: {total} (streamed in {} parts)", parts.len());
        assert_eq!(parts.len() as u64, PARTS.min(hi - lo));
        assert_eq!(
            total,
            format!("total primes in {lo}..{hi}: {}", count_primes_here(lo, hi))
        );
    }
    server.abort();
    pool.close()?;
    pool.join()?;
    Ok(())
}

fn count_primes_here(lo: u64, hi: u64) -> u64 {
    (lo..hi).filter(|&n| is_prime(n)).count() as u64
}

/// Awaits every handle, in order.
async fn futures_join<T, const N: usize>(
    handles: [tokio::task::JoinHandle<T>; N],
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::with_capacity(N);
    for h in handles {
        out.push(h.await);
    }
    out
}

#[mp::main]
fn main() -> mp::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    for method in mp::get_all_start_methods() {
        rt.block_on(run(method))?;
    }
    println!("all start methods served");
    Ok(())
}
