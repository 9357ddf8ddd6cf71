//! Shape checker facts with known answers.

use ammc::front::front_end;

fn summaries(src: &str) -> Vec<ammc::check::ModelSummary> {
    let fe = front_end("t.amm", src.as_bytes(), None, &[]);
    let program = fe.program.expect("resolves");
    ammc::check::check(&program, &fe.sources).expect("checks")
}

#[test]
fn lenet5_has_61706_parameters() {
    let s = summaries(
        "use std.backbones.{lenet5}\nuse std.heads.{classifier}\n\
         data d = synthetic(shape = [1, 28, 28], classes = 10)\n\
         model m = lenet5 -> classifier(classes = 10)\n\
         train t { model = m data = d loss = cross_entropy optimizer = sgd }\n",
    );
    assert_eq!(s[0].params(), 61_706);
    assert_eq!(s[0].output().0, vec![10]);
    // conv1 6·28·28·25 + conv2 16·10·10·150 + 400·120 + 120·84 + 84·10 multiply-adds.
    assert_eq!(s[0].macs(), 117_600 + 240_000 + 48_000 + 10_080 + 840);
}

#[test]
fn frozen_stages_are_not_trainable() {
    let s = summaries(
        "use std.heads.{classifier}\ndata d = builtin.digits()\n\
         backbone f { flatten dense(32) relu }\n\
         model m = f(frozen = true) -> classifier(classes = 10)\n\
         train t { model = m data = d loss = cross_entropy optimizer = adam }\n",
    );
    assert_eq!(s[0].params(), 64 * 32 + 32 + 32 * 10 + 10);
    assert_eq!(s[0].trainable(), 32 * 10 + 10);
}

#[test]
fn set_values_flow_into_shapes() {
    let src = "use std.heads.{classifier}\nparam w: int = 16\ndata d = builtin.digits()\n\
               backbone f { flatten dense(w * 2) relu }\n\
               model m = f -> classifier(classes = 10)\n\
               train t { model = m data = d loss = cross_entropy optimizer = adam }\n";
    let set = [ammc::resolve::Override {
        name: "w".into(),
        value: "5".into(),
    }];
    let fe = front_end("t.amm", src.as_bytes(), None, &set);
    let program = fe.program.expect("resolves");
    let s = ammc::check::check(&program, &fe.sources).expect("checks");
    assert_eq!(s[0].layers[1].output.0, vec![10]);
    let set = [ammc::resolve::Override {
        name: "w".into(),
        value: "0".into(),
    }];
    let fe = front_end("t.amm", src.as_bytes(), None, &set);
    let program = fe.program.expect("resolves");
    let err = ammc::check::check(&program, &fe.sources).unwrap_err();
    assert_eq!(err[0].code, "amm::shape::argument");
}
