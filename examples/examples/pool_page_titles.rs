//! A tutorial's process pool program (the Python documentation's "Process Pools"):
//! `Pool(3)`, `apply_async(get_page, args=(url,), callback=get_title)` for seven pages, then
//! `close()`, `join()`, `print("完成")`. The pages come from local data instead of the network
//! (so that the example runs offline); one of them "fails to download", as a request can.
//!
//! `cargo run -p mp-examples --example pool_page_titles`

use std::sync::{Arc, Mutex};

const PAGES: &[(&str, &str)] = &[
    (
        "https://www.baidu.com",
        "<html><head><title>百度一下，你就知道</title></head></html>",
    ),
    (
        "https://www.bilibili.com",
        "<html><title>哔哩哔哩 (゜-゜)つロ 干杯~-bilibili</title></html>",
    ),
    ("https://cn.bing.com/", "<html><title>必应</title></html>"),
    (
        "https://mail.163.com/",
        "<html><title>163网易免费邮</title></html>",
    ),
    (
        "https://dict.hjenglish.com/",
        "<html><body>no title here</body></html>",
    ),
    (
        "https://github.com/",
        "<html><title>GitHub: Let’s build from here</title></html>",
    ),
];

/// "Downloads" a page: the local copy, or the url itself when the request fails.
#[mp::task]
fn get_page(url: String) -> String {
    match PAGES.iter().find(|(u, _)| *u == url) {
        Some((_, body)) => {
            println!("{:<6}请求成功", std::process::id());
            body.to_string()
        }
        None => {
            println!("{:<6}请求失败", std::process::id());
            url
        }
    }
}

/// The callback: runs in the parent's pool thread with each page.
fn get_title(res: &str) -> Option<String> {
    let title = res
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(t, _)| t.to_string());
    match &title {
        Some(t) => println!("{:<6}解析网页标题为 {t}", std::process::id()),
        None => println!("{:<6}解析不到 {res} 的网页标题", std::process::id()),
    }
    title
}

#[mp::main]
fn main() -> mp::Result<()> {
    let p = mp::Pool::new(3)?;
    let urls = [
        "https://www.baidu.com",
        "https://www.bilibili.com",
        "https://twitter.com",
        "https://cn.bing.com/",
        "https://mail.163.com/",
        "https://dict.hjenglish.com/",
        "https://github.com/",
    ];
    let titles = Arc::new(Mutex::new(Vec::new()));
    for url in urls {
        let titles = titles.clone();
        p.apply_async(get_page, (url.to_string(),))?
            .callback(move |page| titles.lock().unwrap().push(get_title(page)));
    }
    p.close()?;
    p.join()?;
    println!("完成");
    let mut found: Vec<String> = titles.lock().unwrap().iter().flatten().cloned().collect();
    found.sort();
    assert_eq!(
        titles.lock().unwrap().len(),
        7,
        "every callback ran before join returned"
    );
    assert_eq!(found.len(), 5);
    assert!(found.contains(&"必应".to_string()));
    Ok(())
}
