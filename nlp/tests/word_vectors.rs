//! KeyedVectors queries, analogy and similarity evaluation, debiasing.

use dls_nlp::vectors::debias::{bias_direction, equalize, neutralize, projection};
use dls_nlp::vectors::{eval, Analogy, KeyedVectors};
use dls_nlp::Error;

/// Four 2-d vectors: "man" and "king" share the x axis, "woman" and "queen" the y axis.
fn royals() -> KeyedVectors {
    let words = ["man", "woman", "king", "queen", "apple"].map(String::from).to_vec();
    #[rustfmt::skip]
    let data = vec![
        1.0, 0.0,
        0.0, 1.0,
        2.0, 0.4,
        0.4, 2.0,
        -1.0, -1.0,
    ];
    KeyedVectors::new(words, 2, data).unwrap()
}

#[test]
fn similarity_and_neighbours() {
    let kv = royals();
    // cos(king, man) = 2 / sqrt(4.16) = 0.980581
    assert!((kv.similarity("king", "man").unwrap() - 0.980_580_7).abs() < 1e-6);
    let near = kv.most_similar(&["man"], &[], 2).unwrap();
    assert_eq!(near[0].0, "king");
    assert!((near[0].1 - 0.980_580_7).abs() < 1e-6);
    // cos(man, queen) = 0.4 / sqrt(4.16) = 0.196116
    assert_eq!(near[1].0, "queen");
    assert!((near[1].1 - 0.196_116_1).abs() < 1e-6);
    assert!(matches!(kv.similarity("man", "dog"), Err(Error::Invalid { .. })));
}

#[test]
fn analogies_by_3cosadd_and_3cosmul() {
    let kv = royals();
    for method in [Analogy::Add, Analogy::Mul] {
        assert_eq!(kv.analogy("man", "king", "woman", method).unwrap(), "queen", "{method:?}");
        assert_eq!(kv.analogy("woman", "queen", "man", method).unwrap(), "king", "{method:?}");
    }
    // 3CosMul score of queen for man:king::woman:? with cos' = (1 + cos) / 2:
    // cos(queen,king) = 1.6/4.16 = 0.384615, cos(queen,woman) = 0.980581, cos(queen,man) = 0.196116
    // (1.384615/2) (1.980581/2) / (1.196116/2 + 1e-6) = 1.146351
    let top = kv.most_similar_cosmul(&["king", "woman"], &["man"], 1, 5).unwrap();
    assert!((top[0].1 - 1.146_351).abs() < 1e-5, "{top:?}");
    assert_eq!(kv.doesnt_match(&["man", "king", "apple", "unknown"]).unwrap(), "apple");
    assert!(matches!(kv.doesnt_match(&["nothing"]), Err(Error::Empty(_))));
}

#[test]
fn analogy_evaluation_counts_sections_and_oov_like_gensim() {
    let kv = royals();
    let questions = ": royalty\nMan King Woman Queen\nwoman queen man king\nman king boy prince\n: fruit\nman woman king apple\n";
    let r = eval::analogies(&kv, questions, "q", Analogy::Add, 300_000).unwrap();
    assert_eq!((r.correct, r.incorrect, r.oov), (2, 1, 1));
    assert_eq!(r.sections[0], eval::Section { name: "royalty".into(), correct: 2, incorrect: 0 });
    assert_eq!(r.sections[1], eval::Section { name: "fruit".into(), correct: 0, incorrect: 1 });
    assert!((r.accuracy() - 2.0 / 3.0).abs() < 1e-12);
    assert!((r.covered() - 0.75).abs() < 1e-12);
    // Restricting the vocabulary to the first two words leaves every question out of vocabulary.
    let r = eval::analogies(&kv, questions, "q", Analogy::Add, 2).unwrap();
    assert_eq!((r.correct, r.incorrect, r.oov), (0, 0, 4));
    match eval::analogies(&kv, "man king woman\n", "q", Analogy::Add, 10) {
        Err(Error::Format { line: Some(1), .. }) => {}
        other => panic!("{other:?}"),
    }
}

// scipy 1.16: spearmanr([1,2,2,3,5,4], [0.3,0.1,0.2,0.2,0.9,0.5]).correlation = 0.6029411764705883,
//             pearsonr(...)[0] = 0.8153846153846153
#[test]
fn spearman_uses_average_ranks_like_scipy() {
    let x = [1.0, 2.0, 2.0, 3.0, 5.0, 4.0];
    let y = [0.3, 0.1, 0.2, 0.2, 0.9, 0.5];
    assert_eq!(eval::ranks(&x), [1.0, 2.5, 2.5, 4.0, 6.0, 5.0]);
    assert!((eval::spearman(&x, &y) - 0.602_941_176_470_588_3).abs() < 1e-12);
    assert!((eval::pearson(&x, &y) - 0.815_384_615_384_615_3).abs() < 1e-12);
}

#[test]
fn similarity_evaluation_skips_oov_pairs() {
    let kv = royals();
    let text = "# comment\nman\tking\t9\nman\tqueen\t3\nwoman\tapple\t1\nman\tdog\t5\n";
    let r = eval::similarity(&kv, text, "pairs", 300_000).unwrap();
    assert_eq!((r.pairs, r.oov), (3, 1));
    assert!((r.oov_ratio() - 0.25).abs() < 1e-12);
    // model cosines 0.98, 0.196, -0.707 rank like the human scores 9, 3, 1
    assert!((r.spearman - 1.0).abs() < 1e-12);
    match eval::similarity(&kv, "man king\n", "pairs", 10) {
        Err(Error::Format { line: Some(1), message, .. }) => assert!(message.contains("found 1")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn debiasing_passes_the_course_checks() {
    let words = ["woman", "man", "receptionist", "actor", "actress"].map(String::from).to_vec();
    #[rustfmt::skip]
    let data = vec![
        0.2, 0.9, 0.1, 0.3,
        0.7, 0.1, 0.2, 0.3,
        0.1, 0.6, 0.5, -0.2,
        0.8, 0.2, 0.4, 0.1,
        0.3, 0.7, 0.3, 0.2,
    ];
    let mut kv = KeyedVectors::new(words, 4, data).unwrap();
    let g = bias_direction(&kv, &[("woman", "man")]).unwrap();
    assert_eq!(g.len(), 4);
    assert!((g[0] + 0.5).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
    let before = projection(kv.vector("receptionist").unwrap(), &g);
    assert!(before > 0.4, "receptionist leans towards woman: {before}");
    kv.neutralize_word("receptionist", &g).unwrap();
    assert!(projection(kv.vector("receptionist").unwrap(), &g).abs() < 1e-6);
    // Equalise: the pair ends with opposite projections on g and the same orthogonal part.
    let (e1, e2) = equalize(kv.vector("actor").unwrap(), kv.vector("actress").unwrap(), &g);
    let (p1, p2) = (projection(&e1, &g), projection(&e2, &g));
    assert!((p1 + p2).abs() < 1e-5, "{p1} vs {p2}");
    let (n1, n2) = (neutralize(&e1, &g), neutralize(&e2, &g));
    assert!(n1.iter().zip(&n2).all(|(a, b)| (a - b).abs() < 1e-6));
    kv.equalize_pair("actor", "actress", &g).unwrap();
    assert_eq!(kv.vector("actor").unwrap(), e1.as_slice());
    assert!(matches!(kv.neutralize_word("actor", &[1.0]), Err(Error::Length { expected: 4, got: 1, .. })));
}
