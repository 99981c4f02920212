// SGD (momentum, dampening, nesterov, weight decay), AdamW (decoupled decay, bias correction, eps placement,
// parameter groups), the warmup+cosine schedule and clipping by global norm: ten steps against PyTorch.
#include "training_fixture.hpp"

#include <cmath>

// Every file of tests/training compiles into one translation unit (test_training, CMakeLists.txt here): its
// helpers, and the namespaces it uses, stay in a namespace of its own.
namespace optimizer_test {

using namespace eigenformer;
using namespace eigenformer::testing;
using namespace eigenformer::training;

namespace {

/// The named tensors of case `c`, initialised from the fixture.
template <class Scalar>
OwnedParameters<Scalar> initial_parameters(Fixture& fx, const std::string& c) {
  OwnedParameters<Scalar> params;
  for (const std::string& n : string_list(fx.config(c).at("names"))) {
    const std::string key = c + ".input.param." + n;
    params.add(n, fx.info(key).shape, fx.values<Scalar>(key));
  }
  return params;
}

/// Runs the fixture's steps with `optimizer` and compares every tensor after every step; returns the largest error.
template <class Scalar, class Optimizer>
double run_steps(Fixture& fx, const std::string& c, Optimizer& optimizer, bool scheduled) {
  const json::Value cfg = fx.config(c);
  OwnedParameters<Scalar> params = initial_parameters<Scalar>(fx, c);
  ParameterList<Scalar> list = params.list();
  const std::int64_t steps = cfg.at("steps").as_int();
  const std::vector<double> expected_lr = fx.values<double>(c + ".expected." + dtype_tag<Scalar>() + ".lr");
  double worst = 0;
  for (std::int64_t k = 0; k < steps; ++k) {
    if (scheduled) {
      optimizer.config.lr = cfg.at("lr").as_number() *
                            cosine_with_warmup(k, cfg.at("warmup").as_int(), cfg.at("total").as_int());
    }
    CHECK(optimizer.config.lr == doctest::Approx(expected_lr[static_cast<std::size_t>(k)]).epsilon(1e-15));
    for (const std::string& n : params.names) {
      params.grad[n] = fx.values<Scalar>(detail::cat(c, ".input.grad.", k, ".", n));
    }
    list = params.list();  // the gradient vectors were replaced: refresh the pointers
    optimizer.step(list);
    for (const std::string& n : params.names) {
      const std::vector<double> expected = fx.values<double>(detail::cat(c, ".expected.", dtype_tag<Scalar>(), ".step.", k, ".", n));
      worst = std::max(worst, check_close<Scalar>(params.data[n], expected, training_tolerance<Scalar>(),
                                                  detail::cat(c, " step ", k, " ", n)));
    }
  }
  return worst;
}

}  // namespace

TEST_CASE_TEMPLATE("AdamW: ten steps with the warmup+cosine schedule and parameter groups match torch.optim.AdamW", Scalar,
                   float, double) {
  Fixture fx("training/training.safetensors");
  for (const char* c : {"adamw", "adamw_constant"}) {
    const json::Value cfg = fx.config(c);
    AdamWConfig config;
    config.lr = cfg.at("lr").as_number();
    config.beta1 = cfg.at("beta1").as_number();
    config.beta2 = cfg.at("beta2").as_number();
    config.eps = cfg.at("eps").as_number();
    config.weight_decay = cfg.at("weight_decay").as_number();
    AdamW<Scalar> adamw(config);
    const double err = run_steps<Scalar>(fx, c, adamw, cfg.find("warmup") != nullptr);
    MESSAGE(std::string(c) << " " << std::string(dtype_tag<Scalar>()) << ": largest relative error of the weights over 10 steps " << err);
    CHECK(adamw.steps("lm_head.weight") == 10);
  }
}

TEST_CASE_TEMPLATE("SGD with momentum, dampening, nesterov and weight decay matches torch.optim.SGD", Scalar, float, double) {
  Fixture fx("training/training.safetensors");
  for (const char* c : {"sgd", "sgd_nesterov"}) {
    const json::Value cfg = fx.config(c);
    SgdConfig config;
    config.lr = cfg.at("lr").as_number();
    config.momentum = cfg.at("momentum").as_number();
    config.dampening = cfg.at("dampening").as_number();
    config.weight_decay = cfg.at("weight_decay").as_number();
    config.nesterov = cfg.at("nesterov").as_bool();
    Sgd<Scalar> sgd(config);
    const double err = run_steps<Scalar>(fx, c, sgd, false);
    MESSAGE(std::string(c) << " " << std::string(dtype_tag<Scalar>()) << ": largest relative error of the weights over 10 steps " << err);
  }
}

TEST_CASE_TEMPLATE("clip_grad_norm matches torch.nn.utils.clip_grad_norm_ (clipping and not)", Scalar, float, double) {
  Fixture fx("training/training.safetensors");
  for (const char* c : {"clip_1", "clip_100"}) {
    const json::Value cfg = fx.config(c);
    OwnedParameters<Scalar> params;
    for (const std::string& n : string_list(cfg.at("names"))) {
      const std::string key = detail::cat(c, ".input.grad.", n);
      params.add(n, fx.info(key).shape, std::vector<Scalar>(static_cast<std::size_t>(fx.info(key).numel()), Scalar(0)));
      params.grad[n] = fx.values<Scalar>(key);
    }
    ParameterList<Scalar> list = params.list();
    const double norm = clip_grad_norm(list, cfg.at("max_norm").as_number());
    const std::vector<double> expected_norm = fx.values<double>(detail::cat(c, ".expected.", dtype_tag<Scalar>(), ".norm"));
    const double e = check_close<Scalar>(std::vector<double>{norm}, expected_norm, training_tolerance<Scalar>(), "norm");
    double worst = 0;
    for (const std::string& n : params.names) {
      worst = std::max(worst, check_close<Scalar>(params.grad[n],
                                                  fx.values<double>(detail::cat(c, ".expected.", dtype_tag<Scalar>(), ".grad.", n)),
                                                  training_tolerance<Scalar>(), n));
    }
    MESSAGE(std::string(c) << " " << std::string(dtype_tag<Scalar>()) << ": norm " << norm << " vs torch " << expected_norm[0] << " (error " << e
              << "), clipped gradients error " << worst);
  }
  OwnedParameters<Scalar> none;
  none.add("w", {2}, {Scalar(1), Scalar(2)});
  ParameterList<Scalar> list = none.list();
  CHECK_THROWS_AS(clip_grad_norm(list, 0.0), ValueError);
  list[0].grad = nullptr;
  CHECK_THROWS_AS(clip_grad_norm(list, 1.0), ValueError);
}

TEST_CASE("cosine_with_warmup matches transformers' schedule driven by LambdaLR") {
  Fixture fx("training/training.safetensors");
  const json::Value cfg = fx.config("schedule");
  const std::vector<double> expected = fx.values<double>("schedule.expected.lr");
  double worst = 0;
  for (std::size_t k = 0; k < expected.size(); ++k) {
    const double lr = cfg.at("base_lr").as_number() *
                      cosine_with_warmup(static_cast<std::int64_t>(k), cfg.at("warmup").as_int(), cfg.at("total").as_int());
    worst = std::max(worst, std::abs(lr - expected[k]) / cfg.at("base_lr").as_number());
  }
  MESSAGE("schedule: largest error relative to the base learning rate " << worst << " over " << expected.size() << " steps");
  CHECK(worst <= 1e-15);
  CHECK(cosine_with_warmup(0, 5, 20) == 0.0);
  CHECK(cosine_with_warmup(5, 5, 20) == 1.0);
  CHECK(cosine_with_warmup(20, 5, 20) == 0.0);  // zero at N (past N the cosine rises again, as in transformers)
  CHECK_THROWS_AS(cosine_with_warmup(-1, 5, 20), ValueError);
}

TEST_CASE("default weight decay rule: matrices decay — biases, norms, embeddings and 1-D tensors do not") {
  float x = 0;
  CHECK(default_weight_decay<float>({"layers.0.attn.q.weight", {4, 3}, &x}));
  CHECK(default_weight_decay<float>({"lm_head.weight", {5, 4}, &x}));
  CHECK_FALSE(default_weight_decay<float>({"layers.0.attn.q.bias", {4}, &x}));
  CHECK_FALSE(default_weight_decay<float>({"layers.0.input_layernorm.weight", {4}, &x}));
  CHECK_FALSE(default_weight_decay<float>({"model.embed_tokens.weight", {5, 4}, &x}));
  CHECK_FALSE(default_weight_decay<float>({"scale", {7}, &x}));
}

TEST_CASE("AdamW state round-trips through safetensors: the continued run equals the uninterrupted one bit for bit") {
  auto make = [] {
    OwnedParameters<float> p;
    p.add("w", {2, 2}, {0.5f, -0.25f, 1.0f, 2.0f});
    p.add("norm.weight", {2}, {1.0f, 1.0f});
    return p;
  };
  auto grads = [](OwnedParameters<float>& p, int k) {
    for (auto& kv : p.grad) {
      for (std::size_t i = 0; i < kv.second.size(); ++i) kv.second[i] = std::sin(float(k * 7 + int(i))) * 0.3f;
    }
  };
  AdamWConfig config;
  config.lr = 0.01;
  OwnedParameters<float> a = make(), b = make();
  AdamW<float> opt_a(config), opt_b(config);
  for (int k = 0; k < 6; ++k) {
    grads(a, k);
    ParameterList<float> la = a.list();
    opt_a.step(la);
  }
  for (int k = 0; k < 3; ++k) {
    grads(b, k);
    ParameterList<float> lb = b.list();
    opt_b.step(lb);
  }
  const std::string path = eigenformer::testing::training_scratch_dir() + "/adamw_state_test.safetensors";
  {
    SafeTensorsWriter w;
    opt_b.save_state(w);
    w.write(path);
  }
  AdamW<float> opt_c(config);
  SafeTensorsReader r(path);
  opt_c.load_state(r);
  CHECK(opt_c.steps("w") == 3);
  for (int k = 3; k < 6; ++k) {
    grads(b, k);
    ParameterList<float> lb = b.list();
    opt_c.step(lb);
  }
  CHECK(a.data["w"] == b.data["w"]);
  CHECK(a.data["norm.weight"] == b.data["norm.weight"]);
  std::remove(path.c_str());
}

TEST_CASE("GradientAccumulation: token-weighted micro-batches give the whole batch's mean loss and gradient") {
  Matrix<double> logits(6, 5);
  std::srand(3);
  logits.setRandom();
  const TokenSequence labels{1, 4, kIgnoreIndex, 0, 2, 2};
  Matrix<double> full;
  const LossValue whole = cross_entropy<double>(logits, labels, &full);
  // Micro-batches of rows {0, 1}, {2, 3, 4}, {5}: 2, 2 and 1 counted tokens.
  GradientAccumulation acc(whole.counted);
  Matrix<double> summed = Matrix<double>::Zero(6, 5);
  const Index starts[] = {0, 2, 5}, sizes[] = {2, 3, 1};
  for (int m = 0; m < 3; ++m) {
    Matrix<double> d;
    const TokenSequence part(labels.begin() + starts[m], labels.begin() + starts[m] + sizes[m]);
    const LossValue l = cross_entropy<double>(logits.middleRows(starts[m], sizes[m]), part, &d);
    summed.middleRows(starts[m], sizes[m]) += acc.weight(l.counted, l.loss) * d;
  }
  CHECK(acc.complete());
  CHECK(acc.loss() == doctest::Approx(whole.loss).epsilon(1e-14));
  CHECK((summed - full).cwiseAbs().maxCoeff() <= 1e-15);
  CHECK_THROWS_AS(acc.weight(1, 0.0), ValueError);
  CHECK_THROWS_AS(GradientAccumulation(0), ValueError);
}

}  // namespace optimizer_test
