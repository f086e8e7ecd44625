#include "global/deliver_mailbox.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "global/queue_file.h"
#include "util/stream.h"

namespace postern {
namespace {

TEST(MaildirNames, PostfixForm) {
  EXPECT_EQ(maildir_tmp_name(1700000000, 4242, "mx"), "tmp/1700000000.P4242.mx");
  EXPECT_EQ(maildir_new_name(1700000000, 0x801, 0x1a2b, 123456, "mx"),
            "new/1700000000.V801I1a2bM123456.mx");
  auto host = maildir_hostname();
  EXPECT_FALSE(host.empty());
  EXPECT_EQ(host.find('/'), std::string::npos);
  EXPECT_EQ(host.find(':'), std::string::npos);
}

TEST(DeliveryHeaders, ReturnPathOriginalAndDelivered) {
  MailCopy m;
  m.sender = "a@b.test";
  m.recipient = "Bob@Demo.Test";
  m.orig_recipient = "Bobby@demo.test";
  EXPECT_EQ(delivery_headers(m),
            "Return-Path: <a@b.test>\nX-Original-To: Bobby@demo.test\nDelivered-To: bob@demo.test\n");
  m.sender = "";
  m.orig_recipient = "";
  EXPECT_EQ(delivery_headers(m), "Return-Path: <>\nDelivered-To: bob@demo.test\n");
}

class MailboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/deliver_mailbox_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    qf_ = dir_ + "/qf";
    fd_ = ::open(qf_.c_str(), O_RDWR | O_CREAT, 0600);
    QueueFileWriter w(fd_);
    w.size_record();
    w.time(1, 0);
    w.sender("a@b.test");
    w.recipient("x@demo.test");
    w.message_start();
    w.content_line("Subject: hi");
    w.content_line("");
    w.content_line("From the start");
    w.content_line(std::string(3000, 'x'));
    w.extracted_start();
    w.end();
    ASSERT_TRUE(w.commit(fd_));
    auto info = read_queue_file(fd_, "qf");
    ASSERT_TRUE(info);
    m_.queue_fd = fd_;
    m_.data_offset = info->content_offset;
    m_.sender = "a@b.test";
    m_.recipient = "x@demo.test";
  }
  void TearDown() override {
    ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  std::string dir_, qf_;
  int fd_ = -1;
  MailCopy m_;
};

TEST_F(MailboxTest, MaildirGetsOneFileInNew) {
  auto path = deliver_maildir(dir_ + "/box/Maildir/", m_);
  ASSERT_TRUE(path) << path.error().text;
  EXPECT_NE(path->find("/box/Maildir/new/"), std::string::npos);
  auto text = read_file(*path);
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "Return-Path: <a@b.test>\nDelivered-To: x@demo.test\nSubject: hi\n\nFrom the start\n" +
                       std::string(3000, 'x') + "\n");
  EXPECT_TRUE(std::filesystem::is_empty(dir_ + "/box/Maildir/tmp"));
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/box/Maildir/cur"));
}

TEST_F(MailboxTest, MaildirErrorNamesTheDirectory) {
  // A plain file where a directory should be fails even for root.
  { std::ofstream(dir_ + "/notadir") << "x\n"; }
  auto path = deliver_maildir(dir_ + "/notadir/Maildir/", m_);
  ASSERT_FALSE(path);
  EXPECT_NE(path.error().text.find(dir_ + "/notadir"), std::string::npos) << path.error().text;
  EXPECT_NE(path.error().text.find("Not a directory"), std::string::npos) << path.error().text;
}

TEST_F(MailboxTest, MboxQuotesFromAndEndsWithEmptyLine) {
  std::string box = dir_ + "/mbox";
  ASSERT_TRUE(deliver_mbox(box, m_, true));
  ASSERT_TRUE(deliver_mbox(box, m_, true));
  auto text = read_file(box);
  ASSERT_TRUE(text);
  EXPECT_TRUE(text->starts_with("From a@b.test  "));
  EXPECT_NE(text->find("\n>From the start\n"), std::string::npos);
  EXPECT_NE(text->find(std::string(3000, 'x') + "\n\nFrom a@b.test  "), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(box + ".lock"));
}

}  // namespace
}  // namespace postern
