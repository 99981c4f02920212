// examples/tour/tour_text.hpp — what the tour says at each stage, in English and in Chinese.
//
// One paragraph per stage, printed before the stage runs, then the header and chapter to read next. Kept
// apart from tour.cpp so that the program reads as what it does, and so that a translator finds every
// sentence in one place. Chinese follows the field's usual terms (see docs/glossary.md).
#pragma once

#include <string>

namespace tour {

enum class Language { English, Chinese };

/// The words of one stage.
struct StageText {
  const char* title_en;
  const char* title_zh;
  const char* explanation_en;
  const char* explanation_zh;
  const char* read_next;  // headers and chapters: the same in both languages (paths)
};

inline const StageText& stage_text(int stage) {
  static const StageText stages[] = {
      // 1 ---------------------------------------------------------------------------------------------------
      {"Tokens",
       "词元",
       "A model never sees letters or characters, only numbers. A tokenizer cuts the text into pieces it knows\n"
       "- whole words, parts of words, single characters or bytes - and looks up each piece's id in its\n"
       "vocabulary. Two tokenizers cut the same sentence differently: a character vocabulary gives one id per\n"
       "character; a byte-pair encoding learned from a corpus merges frequent neighbours into longer pieces.\n"
       "Special tokens mark structure. The most important is the end-of-sequence token (EOS): a model emits\n"
       "it to say \"I am done\", and generation stops there. Each family has its own.",
       "模型看不到字母或汉字，只能看到数字。分词器把文本切成它认识的片段 —— 整词、词的一部分、单个字符或\n"
       "字节 —— 再在词表里查出每个片段的编号。同一个句子，两种分词器切法不同：字符词表每个字符一个编号；\n"
       "从语料中学出的字节对编码（BPE）会把常一起出现的相邻片段合并成更长的片段。特殊词元用来标记结构，\n"
       "其中最重要的是序列结束符（EOS）：模型输出它，表示\"我说完了\"，生成就在这里停止。每个模型家族都有\n"
       "自己的 EOS。",
       "include/eigenformer/tokenizers/ (bpe.hpp, bpe_trainer.hpp, special_tokens.hpp) - docs/tokenizers.md"},
      // 2 ---------------------------------------------------------------------------------------------------
      {"Attention",
       "注意力",
       "Attention decides which earlier tokens matter for the current one. Each token asks a question (its\n"
       "query q), every token offers a key k; the scores q.k / sqrt(D) say how well they match, a softmax turns\n"
       "each row of scores into weights that sum to 1, and the token receives the weighted average of the\n"
       "values. Below: the weights of one head of the tiny poet model on a line of a Tang poem. Row = the token\n"
       "that looks, column = the token it looks at; the mask hides the future, so the upper triangle is empty.",
       "注意力决定哪些之前的词元对当前词元重要。每个词元提出一个问题（查询 q），每个词元提供一个键 k；\n"
       "分数 q·k / √D 表示二者的匹配程度，softmax 把每一行分数变成总和为 1 的权重，词元得到的是各个值的\n"
       "加权平均。下面是小型\"诗人\"模型的一个注意力头在一句唐诗上的权重：行是\"在看\"的词元，列是\"被看\"\n"
       "的词元；因果掩码遮住了未来，所以右上三角是空的。",
       "include/eigenformer/attention/attention.hpp (scaled_dot_product_attention) - docs/attention.md"},
      // 3 ---------------------------------------------------------------------------------------------------
      {"The encoder",
       "编码器",
       "An encoder (BERT) reads the whole text at once, in both directions, and turns every token into a vector\n"
       "informed by everything around it. It was pretrained by hiding tokens and guessing them: masked language\n"
       "modelling. Below, the tiny BERT trained here guesses a hidden character; the candidates and their\n"
       "probabilities come straight from its output layer.",
       "编码器（BERT）一次读入整段文本，双向地看，把每个词元都变成一个融合了上下文的向量。它的预训练方式是\n"
       "遮住一些词元再把它们猜出来：掩码语言建模。下面，本项目训练的小型 BERT 来猜一个被遮住的字；候选字\n"
       "和它们的概率直接来自模型的输出层。",
       "examples/bert/bert.hpp, include/eigenformer/training/objectives.hpp (mask_tokens) - docs/01_three_kinds.md"},
      // 4 ---------------------------------------------------------------------------------------------------
      {"The decoder",
       "解码器",
       "A decoder (Llama, GPT) predicts the next token, appends it, and repeats: autoregressive decoding. At each\n"
       "step it gives a score to every entry of the vocabulary; the softmax makes them probabilities. Greedy\n"
       "search takes the most probable token; beam search keeps the few best partial sequences; sampling draws\n"
       "a token at random from the probabilities (temperature sharpens or flattens them). Generation stops at\n"
       "the end-of-sequence token - the model chose to stop - or at the length limit.",
       "解码器（Llama、GPT）预测下一个词元，把它接到末尾，再重复：这就是自回归解码。每一步它给词表中的\n"
       "每一项打分，softmax 把分数变成概率。贪心搜索取概率最大的词元；束搜索同时保留几条最好的候选序列；\n"
       "采样则按概率随机抽取（温度让分布更尖锐或更平坦）。生成在序列结束符处停止 —— 那是模型自己选择\n"
       "停下 —— 或者在达到长度上限时停止。",
       "include/eigenformer/generation/ (generate.hpp, logits_processing.hpp) - docs/generation.md"},
      // 5 ---------------------------------------------------------------------------------------------------
      {"The encoder-decoder",
       "编码器-解码器",
       "An encoder-decoder (T5, BART) reads with its encoder and writes with its decoder. Every decoder block has\n"
       "a second attention, cross-attention, whose queries come from the text being written and whose keys and\n"
       "values come from the text that was read. Below, the tiny T5 trained here spells numbers as words in\n"
       "English and in Chinese, and its cross-attention shows which digits each output token consulted.",
       "编码器-解码器（T5、BART）用编码器读，用解码器写。解码器的每个块里还有第二个注意力 —— 交叉注意力：\n"
       "它的查询来自正在写的文本，键和值来自读入的文本。下面，本项目训练的小型 T5 把数字读成英文和中文，\n"
       "它的交叉注意力显示了每个输出词元参考了哪些数字。",
       "include/eigenformer/blocks/encoder_decoder.hpp, examples/t5/t5.hpp - docs/01_three_kinds.md"},
      // 6 ---------------------------------------------------------------------------------------------------
      {"Learning",
       "学习",
       "Where do the weights come from? Training starts from random numbers and repeats: predict, measure the\n"
       "error with the cross-entropy loss, compute the gradient of the loss for every weight by backpropagation\n"
       "(written out by hand in this library), and move each weight a little against its gradient (AdamW).\n"
       "Below, a fresh tiny model learns from the Tang poems for a few hundred steps: watch the loss fall and\n"
       "the samples turn from noise into something shaped like verse.",
       "权重从哪里来？训练从随机数开始，反复执行：预测，用交叉熵损失衡量误差，用反向传播（本库中全部手写）\n"
       "算出损失对每个权重的梯度，再让每个权重朝梯度的反方向挪动一小步（AdamW）。下面，一个全新的小模型\n"
       "在唐诗上学习几百步：看损失如何下降，样本如何从乱码变得有了诗的模样。",
       "include/eigenformer/training/ (trainer.hpp, loss.hpp, optimizer.hpp), docs/backward.md - docs/training.md"},
      // 7 ---------------------------------------------------------------------------------------------------
      {"Prompts",
       "提示词",
       "A chat model sees one long text: the conversation laid out with special tokens that mark who speaks -\n"
       "in Llama 3, <|start_header_id|>user<|end_header_id|> ... <|eot_id|>. The prompt is everything before\n"
       "the model's turn; the model continues it and ends its turn with <|eot_id|>. Fine-tuning on such\n"
       "conversations, with the prompt masked out of the loss, is what teaches a model to answer and to stop.\n"
       "Below, the tiny assistant fine-tuned here answers in that layout; change the prompt and the answer\n"
       "changes with it.",
       "聊天模型看到的是一整段文本：对话按特殊词元排好，标明谁在说话 —— 在 Llama 3 中是\n"
       "<|start_header_id|>user<|end_header_id|> … <|eot_id|>。提示词就是模型发言之前的全部内容；模型接着\n"
       "往下写，并用 <|eot_id|> 结束自己的发言。在这样的对话上做微调（提示词部分不计入损失），正是教会模型\n"
       "回答问题并适时停下的方法。下面，本项目微调出的小助手按这种格式作答；换一个提示词，回答也随之改变。",
       "include/eigenformer/chat/, include/eigenformer/generation/prompt.hpp - docs/chat_templates.md"},
  };
  return stages[stage - 1];
}

inline constexpr int kStages = 7;

/// The stage's title and explanation in the chosen language.
inline std::string title(int stage, Language lang) {
  const StageText& t = stage_text(stage);
  return lang == Language::Chinese ? t.title_zh : t.title_en;
}
inline std::string explanation(int stage, Language lang) {
  const StageText& t = stage_text(stage);
  return lang == Language::Chinese ? t.explanation_zh : t.explanation_en;
}

}  // namespace tour
